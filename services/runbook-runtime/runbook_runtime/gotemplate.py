"""The part of Go's text/template that cli-replay scenarios use in ``stdout``/``stderr``, rendered safely.

cli-replay renders each response with ``text/template`` (option ``missingkey=zero``) over a map of
vars plus ``capture``, a map of strings. This module parses and evaluates that language's data-only
subset: text, ``{{ .field.chain }}``, literals, comments, trim markers ``{{-``/``-}}``, pipelines,
``if``/``else if``/``else``/``with`` blocks and the pure builtins ``print printf println len index
eq ne lt le gt ge not and or``. There is no ``range``, ``define``/``template``/``block``, no
variables and no method calls, so a template cannot loop or call code: evaluation is linear in its
size. Output is bounded (``limit`` bytes; past it the text is cut and ``truncated`` set), printf
widths are bounded, and parse nesting is bounded. Anything outside the subset is refused when the
template is parsed, with the construct named.

Go's printing rules are kept where scenarios can see them: a missing top-level key prints
``<no value>``, a missing ``.capture.x`` prints nothing, a map prints as ``map[k:v]``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from playbooks_contracts.templating import MISSING, step

MAX_DEPTH = 32
MAX_WIDTH = 10_000
DEFAULT_LIMIT = 16 * 1024 * 1024


class TemplateError(ValueError):
    """A template that does not parse, uses what this subset leaves out, or fails while rendering."""


class _NoValue:
    """Go's ``<no value>``: what a missing key of a ``map[string]interface{}`` prints as."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class GoMap:
    """A Go map: ``zero`` is what a missing key gives (``""`` for map[string]string)."""

    items: Mapping[str, Any]
    zero: Any = NO_VALUE


# -- lexing --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<decl>:=|=)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()|,])
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b"}
_SIMPLE_ESCAPES |= {"f": "\f", "v": "\v"}
_TRIM_SPACE = " \t\r\n"


def _unquote(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        esc = m.group(0)[1:]
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567" and len(esc) == 3:
            return chr(int(esc, 8))
        raise TemplateError(f"unknown escape sequence \\{esc}")

    return _ESCAPE.sub(one, body)


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(action: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if m is None:
            raise TemplateError(f"unexpected {action[pos]!r} in action {{{{{action}}}}}")
        kind = m.lastgroup or ""
        if kind == "var":
            raise TemplateError(f"template variables ({m.group(0)}) are not supported")
        if kind == "decl":
            raise TemplateError("declarations and assignments are not supported")
        if kind == "char":
            raise TemplateError("character constants are not supported")
        if kind != "ws":
            out.append(_Tok(kind, m.group(0)))
        pos = m.end()
    return out


def _split(text: str) -> Iterator[tuple[str, str]]:
    """("text", s) and ("action", body) pieces, trim markers applied, comments dropped."""
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_TRIM_SPACE)
        if start < 0:
            if chunk:
                yield "text", chunk
            return
        inner = start + 2
        if text.startswith("-", inner) and inner + 1 < len(text) and text[inner + 1] in _TRIM_SPACE:
            chunk = chunk.rstrip(_TRIM_SPACE)
            inner += 2
        if chunk:
            yield "text", chunk
        end, body = _action_end(text, inner)
        trim_next = False
        if body.endswith("-") and len(body) >= 2 and body[-2] in _TRIM_SPACE:
            body, trim_next = body[:-1], True
        if not body.startswith("/*"):
            yield "action", body
        pos = end


def _action_end(text: str, pos: int) -> tuple[int, str]:
    """Where the action starting at ``pos`` ends (after its ``}}``) and its body; quotes may hold ``}}``."""
    i, start = pos, pos
    if text.startswith("/*", pos):
        # as Go: a comment opens right after the delimiter and closes "*/}}" or "*/ -}}"
        close = text.find("*/", pos)
        if close < 0:
            raise TemplateError("unclosed comment")
        after = close + 2
        if text.startswith("}}", after):
            return after + 2, text[start:after]
        if after + 1 < len(text) and text[after] in _TRIM_SPACE and text.startswith("-}}", after + 1):
            return after + 4, text[start : after + 2]
        raise TemplateError("comment ends before closing delimiter")
    while i < len(text):
        c = text[i]
        if c == "}" and text.startswith("}}", i):
            return i + 2, text[start:i]
        if c in "\"'`":
            close = _quote_end(text, i)
            if close < 0:
                raise TemplateError(f"unterminated quoted string in action starting {text[start - 2 : start + 30]!r}")
            i = close
            continue
        i += 1
    raise TemplateError(f"unclosed action starting {text[start - 2 : start + 30]!r}")


def _quote_end(text: str, i: int) -> int:
    q = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and q != "`":
            j += 2
            continue
        if text[j] == q:
            return j + 1
        if text[j] == "\n" and q != "`":
            return -1
        j += 1
    return -1


# -- parsing -------------------------------------------------------------------------------------


@dataclass
class Field:
    path: tuple[str, ...]  # () is the dot itself


@dataclass
class Literal:
    value: Any


@dataclass
class Func:
    name: str


@dataclass
class Pipe:
    cmds: list[list[Any]]  # each command: operands (Field | Literal | Func | Pipe)


@dataclass
class Action:
    pipe: Pipe


@dataclass
class Block:
    kind: str  # "if" | "with"
    pipe: Pipe
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


FUNCS = frozenset(
    {"print", "printf", "println", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or"}
)
_LEFT_OUT = {
    "range": "range loops",
    "define": "template definitions",
    "template": "template calls",
    "block": "template blocks",
    "break": "break",
    "continue": "continue",
    "call": "function calls",
    "slice": "slice",
    "html": "html",
    "js": "js",
    "urlquery": "urlquery",
}


class Template:
    """A parsed template; ``render`` evaluates it over data, ``capture_refs`` lists ``.capture.X`` uses."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = _Parser(source).parse()

    def capture_refs(self) -> list[str]:
        refs: list[str] = []
        _walk_refs(self.nodes, refs)
        return refs

    def render(self, data: GoMap, *, limit: int = DEFAULT_LIMIT) -> tuple[str, bool]:
        """(output, truncated): the output is cut at ``limit`` UTF-8 bytes."""
        out = _Out(limit)
        with contextlib.suppress(_Full):
            _exec(self.nodes, data, data, out)
        return "".join(out.parts), out.full


class _Parser:
    def __init__(self, source: str) -> None:
        self.pieces = list(_split(source))
        self.i = 0

    def parse(self) -> list[Any]:
        nodes, stop = self._list(0)
        if stop is not None:
            raise TemplateError(f"unexpected {{{{{stop}}}}}")
        return nodes

    def _list(self, depth: int) -> tuple[list[Any], str | None]:
        """Nodes up to an ``else``/``end`` action (returned as the stop word with its rest), or the end."""
        if depth > MAX_DEPTH:
            raise TemplateError(f"blocks nested deeper than {MAX_DEPTH}")
        nodes: list[Any] = []
        while self.i < len(self.pieces):
            kind, body = self.pieces[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(body)
                continue
            toks = _tokens(body)
            if not toks:
                raise TemplateError("missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                if head.text == "end" and len(toks) > 1:
                    raise TemplateError("unexpected tokens after end")
                return nodes, body.strip(_TRIM_SPACE)
            if head.kind == "ident" and head.text in ("if", "with"):
                nodes.append(self._block(head.text, toks[1:], depth))
                continue
            if head.kind == "ident" and head.text in _LEFT_OUT:
                what = _LEFT_OUT[head.text]
                raise TemplateError(f"{{{{ {head.text} }}}}: {what} are not supported in scenario templates")
            nodes.append(Action(_pipe(toks, depth)))
        return nodes, None

    def _block(self, kind: str, toks: list[_Tok], depth: int) -> Block:
        if not toks:
            raise TemplateError(f"missing value for {kind}")
        block = Block(kind, _pipe(toks, depth))
        block.body, stop = self._list(depth + 1)
        if stop is None:
            raise TemplateError(f"unexpected EOF: {{{{ {kind} }}}} has no {{{{ end }}}}")
        if stop.startswith("else"):
            rest = _tokens(stop)[1:]
            if rest and rest[0].kind == "ident" and rest[0].text == "if" and kind == "if":
                # else if: a nested if that consumes the shared end
                inner = Block("if", _pipe(rest[1:], depth), [], [])
                inner.body, stop2 = self._list(depth + 1)
                if stop2 is None:
                    raise TemplateError("unexpected EOF in else if")
                self._finish_else(inner, stop2, depth)
                block.orelse = [inner]
                return block
            if rest:
                raise TemplateError(f"{{{{ {stop} }}}} is not supported")
            block.orelse, stop = self._list(depth + 1)
            if stop is None or stop != "end":
                raise TemplateError(f"expected {{{{ end }}}} after {{{{ else }}}} of {kind}")
        return block

    def _finish_else(self, block: Block, stop: str, depth: int) -> None:
        if stop == "end":
            return
        rest = _tokens(stop)[1:]
        if rest and rest[0].kind == "ident" and rest[0].text == "if":
            inner = Block("if", _pipe(rest[1:], depth), [], [])
            inner.body, stop2 = self._list(depth + 1)
            if stop2 is None:
                raise TemplateError("unexpected EOF in else if")
            self._finish_else(inner, stop2, depth)
            block.orelse = [inner]
            return
        if rest:
            raise TemplateError(f"{{{{ {stop} }}}} is not supported")
        block.orelse, stop3 = self._list(depth + 1)
        if stop3 != "end":
            raise TemplateError("expected {{ end }} after {{ else }}")


def _pipe(toks: list[_Tok], depth: int) -> Pipe:
    if depth > MAX_DEPTH:
        raise TemplateError(f"parentheses nested deeper than {MAX_DEPTH}")
    cmds: list[list[Any]] = [[]]
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.text == "|" and t.kind == "punct":
            if not cmds[-1]:
                raise TemplateError("missing command before |")
            cmds.append([])
        elif t.text == "(":
            level, j = 1, i + 1
            while j < len(toks) and level:
                level += {"(": 1, ")": -1}.get(toks[j].text if toks[j].kind == "punct" else "", 0)
                j += 1
            if level:
                raise TemplateError("unclosed left paren")
            cmds[-1].append(_pipe(toks[i + 1 : j - 1], depth + 1))
            i = j
            continue
        elif t.kind == "punct":
            raise TemplateError(f"unexpected {t.text!r} in command")
        else:
            cmds[-1].append(_operand(t))
        i += 1
    if not cmds[-1]:
        raise TemplateError("missing value for command")
    for n, cmd in enumerate(cmds):
        if n > 0 and not isinstance(cmd[0], Func):
            raise TemplateError("non executable command in pipeline stage")
        if len(cmd) > 1 and not isinstance(cmd[0], Func):
            raise TemplateError("can't give argument to non-function")
    return Pipe(cmds)


def _operand(t: _Tok) -> Any:
    if t.kind == "field":
        return Field(tuple(t.text[1:].split(".")))
    if t.kind == "dot":
        return Field(())
    if t.kind == "str":
        return Literal(_unquote(t.text[1:-1]))
    if t.kind == "raw":
        return Literal(t.text[1:-1])
    if t.kind == "num":
        text = t.text.replace("_", "")
        try:
            return Literal(int(text, 0))
        except ValueError:
            try:
                return Literal(float(text))
            except ValueError:
                raise TemplateError(f"bad number syntax: {t.text!r}") from None
    if t.kind == "ident":
        if t.text in ("true", "false"):
            return Literal(t.text == "true")
        if t.text == "nil":
            raise TemplateError("nil is not a command")
        if t.text in FUNCS:
            return Func(t.text)
        if t.text in _LEFT_OUT:
            raise TemplateError(f"{t.text}: {_LEFT_OUT[t.text]} are not supported in scenario templates")
        raise TemplateError(f'function "{t.text}" not defined')
    raise TemplateError(f"unexpected {t.text!r}")


def _walk_refs(nodes: list[Any], refs: list[str]) -> None:
    for n in nodes:
        if isinstance(n, Action):
            _pipe_refs(n.pipe, refs)
        elif isinstance(n, Block):
            _pipe_refs(n.pipe, refs)
            _walk_refs(n.body, refs)
            _walk_refs(n.orelse, refs)


def _pipe_refs(pipe: Pipe, refs: list[str]) -> None:
    for cmd in pipe.cmds:
        for arg in cmd:
            if isinstance(arg, Field) and len(arg.path) == 2 and arg.path[0] == "capture":
                refs.append(arg.path[1])
            elif isinstance(arg, Pipe):
                _pipe_refs(arg, refs)


# -- evaluation ----------------------------------------------------------------------------------


class _Full(Exception):
    pass


class _Out:
    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.room = limit
        self.full = False

    def write(self, s: str) -> None:
        data = s.encode()
        if len(data) <= self.room:
            self.parts.append(s)
            self.room -= len(data)
            return
        self.parts.append(data[: self.room].decode(errors="ignore"))
        self.room, self.full = 0, True
        raise _Full


def _exec(nodes: list[Any], dot: Any, root: GoMap, out: _Out) -> None:
    for n in nodes:
        if isinstance(n, str):
            out.write(n)
        elif isinstance(n, Action):
            out.write(_print(_eval_pipe(n.pipe, dot, root, out.room)))
        else:
            value = _eval_pipe(n.pipe, dot, root, out.room)
            if _truth(value):
                _exec(n.body, value if n.kind == "with" else dot, root, out)
            else:
                _exec(n.orelse, dot, root, out)


def _eval_pipe(pipe: Pipe, dot: Any, root: GoMap, room: int) -> Any:
    value: Any = None
    for n, cmd in enumerate(pipe.cmds):
        head = cmd[0]
        if isinstance(head, Func):
            args = cmd[1:]
            extra = [value] if n > 0 else []
            value = _call(head.name, args, extra, dot, root, room)
        else:
            value = _eval_arg(head, dot, root, room)
    return value


def _eval_arg(arg: Any, dot: Any, root: GoMap, room: int) -> Any:
    if isinstance(arg, Literal):
        return arg.value
    if isinstance(arg, Pipe):
        return _eval_pipe(arg, dot, root, room)
    if isinstance(arg, Func):
        return _call(arg.name, [], [], dot, root, room)
    value = dot
    for name in arg.path:
        value = _field(value, name)
    return value


def _field(value: Any, name: str) -> Any:
    if isinstance(value, GoMap):
        found = step(value.items, name)  # the platform's one lookup; Go's zero value when missing
        return value.zero if found is MISSING else found
    if value is NO_VALUE or value is None:
        raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
    raise TemplateError(f"can't evaluate field {name} in type {_type(value)}")


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoMap):
        return "map[string]string" if value.zero == "" else "map[string]interface {}"
    return "interface {}"


def _truth(value: Any) -> bool:
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, GoMap):
        return bool(value.items)
    return bool(value)


def _print(value: Any) -> str:
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, GoMap):
        return "map[" + " ".join(f"{k}:{_print(value.items[k])}" for k in sorted(value.items)) + "]"
    return str(value)


def _go_float(value: float) -> str:
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return text[:-2] if text.endswith(".0") else text


def _call(name: str, arg_nodes: list[Any], extra: list[Any], dot: Any, root: GoMap, room: int) -> Any:
    if name in ("and", "or"):
        # short-circuit, as Go does since 1.18: later arguments are not evaluated
        values = [*arg_nodes, *(Literal(v) for v in extra)]
        if not values:
            raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
        result: Any = None
        for node in values:
            result = _eval_arg(node, dot, root, room)
            if _truth(result) != (name == "and"):
                return result
        return result
    # a missing key reaches a function as Go's untyped nil, which fmt prints as <nil>
    args = [None if a is NO_VALUE else a for a in [_eval_arg(a, dot, root, room) for a in arg_nodes] + extra]
    if name == "print":
        return _sprint(args)
    if name == "println":
        return " ".join(_print(a) for a in args) + "\n"
    if name == "printf":
        if not args or not isinstance(args[0], str):
            raise TemplateError("printf needs a format string")
        return _sprintf(args[0], args[1:], room)
    if name == "len":
        _arity(name, args, 1)
        if isinstance(args[0], str):
            return len(args[0].encode())
        if isinstance(args[0], GoMap):
            return len(args[0].items)
        raise TemplateError(f"len of type {_type(args[0])}")
    if name == "index":
        if not args:
            raise TemplateError("wrong number of args for index: want at least 1 got 0")
        value = args[0]
        for key in args[1:]:
            if not isinstance(value, GoMap):
                raise TemplateError(f"can't index item of type {_type(value)}")
            value = value.items.get(str(key), value.zero)
        return value
    if name == "not":
        _arity(name, args, 1)
        return not _truth(args[0])
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        return _compare(name, args)
    raise TemplateError(f'function "{name}" not defined')  # unreachable: the parser admits FUNCS only


def _arity(name: str, args: list[Any], n: int) -> None:
    if len(args) != n:
        raise TemplateError(f"wrong number of args for {name}: want {n} got {len(args)}")


def _sprint(args: list[Any]) -> str:
    # fmt.Sprint: a space between operands when neither side is a string
    out = []
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_print(a))
    return "".join(out)


def _comparable(a: Any) -> Any:
    if a is NO_VALUE or a is None or isinstance(a, GoMap):
        raise TemplateError("incompatible types for comparison")
    return a


def _compare(name: str, args: list[Any]) -> bool:
    if len(args) < 2 and name == "eq":
        raise TemplateError("missing argument for comparison")
    if name != "eq":
        _arity(name, args, 2)
    first = _comparable(args[0])
    if name == "eq":
        for other in args[1:]:
            _check_kinds(first, _comparable(other))
            if first == other:
                return True
        return False
    second = _comparable(args[1])
    _check_kinds(first, second)
    if name == "ne":
        return bool(first != second)
    if isinstance(first, bool):
        raise TemplateError("invalid type for comparison")
    return bool({"lt": first < second, "le": first <= second, "gt": first > second, "ge": first >= second}[name])


def _check_kinds(a: Any, b: Any) -> None:
    def kind(x: Any) -> str:
        return "bool" if isinstance(x, bool) else "num" if isinstance(x, int | float) else "str"

    if kind(a) != kind(b):
        raise TemplateError("incompatible types for comparison")


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(fmt: str, args: list[Any], room: int) -> str:
    out: list[str] = []
    pos, argi = 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        for n in (width, prec):
            if n is not None and int(n) > min(MAX_WIDTH, max(room, 0)):
                raise TemplateError(f"printf width {n} is over the bound of {min(MAX_WIDTH, max(room, 0))}")
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_format(flags, width, prec, verb, arg))
    out.append(fmt[pos:])
    if argi < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type(a)}={_print(a)}" for a in args[argi:]) + ")")
    return "".join(out)


def _format(flags: str, width: str | None, prec: str | None, verb: str, arg: Any) -> str:
    if arg is None:
        return "<nil>" if verb == "v" else f"%!{verb}(<nil>)"
    spec = flags.replace("#", "") + (width or "") + (f".{prec}" if prec is not None else "")
    if verb in "sv":
        text = _print(arg)
        if verb == "s" and isinstance(arg, int | float | bool):
            return f"%!s({_type(arg)}={_print(arg)})"
        return f"{text:{_py_align(spec)}}" if spec else text
    if verb == "q" and isinstance(arg, str):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if verb in "dxXob" and isinstance(arg, int) and not isinstance(arg, bool):
        py = "d" if verb == "d" else verb
        return format(arg, spec + py)
    if verb in "feEgG" and isinstance(arg, int | float) and not isinstance(arg, bool):
        return format(float(arg), spec + verb)
    if verb == "t" and isinstance(arg, bool):
        return _print(arg)
    return f"%!{verb}({_type(arg)}={_print(arg)})"


def _py_align(spec: str) -> str:
    # Go pads strings on the left by default, "-" pads on the right; Python's default for str is left-aligned
    if spec.startswith("-"):
        return "<" + spec[1:]
    return ">" + spec.lstrip("+ 0")


def render_data(vars_: Mapping[str, str], captures: Mapping[str, str]) -> GoMap:
    """cli-replay's template data: the vars at the top, the captures under ``capture`` (missing: "")."""
    items: dict[str, Any] = dict(vars_)
    items["capture"] = GoMap(dict(captures), zero="")
    return GoMap(items, zero=NO_VALUE)
