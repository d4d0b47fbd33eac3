"""The platform's one template language: ``{{ .path }}``, a dotted path into plain data (decision 0024).

A placeholder is ``{{``, optional spaces, a dot, a path of segments (letters, digits, ``_``, ``-``)
joined by dots, optional spaces, ``}}``: ``{{ .event.id }}``, ``{{ .activity.items.0 }}``. The
literal-brace escape ``{{ "{{" }}`` (Go's own) writes ``{{``. Everything else is text, left as it
is, including other ``{{ ... }}`` spans. There are no expressions, calls or attribute access: a
path is looked up with :func:`lookup` in mappings (and lists, by index), nothing else, so a
``{{ .__class__ }}`` is just a key that is not there. Rendering is one pass: a value that holds
``{{ .x }}`` is written as it is, never read as a template again.

Bounds, checked when a template is parsed (so a playbook carrying more is refused when written):
a path of at most ``MAX_PATH_LENGTH`` characters and ``MAX_PATH_SEGMENTS`` segments, at most
``MAX_PLACEHOLDERS`` placeholders in one document. Parsing is a single regular-expression scan,
linear in the text.

The older forms, accepted on input for one release and rewritten to this one (:func:`upgrade_dollar`,
:func:`upgrade_bare`, each change reported as a :class:`Deprecation`): exception-playbook's
``${path}`` / ``$path`` / ``$$`` and condition-engine's whole-string ``{{ path }}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, Field

MAX_PATH_LENGTH: Final = 256
MAX_PATH_SEGMENTS: Final = 16
MAX_PLACEHOLDERS: Final = 1000

SEGMENT = r"[A-Za-z0-9_-]+"
PATH = rf"{SEGMENT}(?:\.{SEGMENT})*"
PATH_PATTERN = re.compile(rf"^{PATH}$")
# ``{{ .path }}``; one name (``{{ .name }}``) is the runbook's form of it.
PLACEHOLDER = re.compile(rf"\{{\{{\s*\.({PATH})\s*\}}\}}")
LITERAL_BRACES: Final = '{{ "{{" }}'
BRACE_ESCAPE = re.compile(r'\{\{\s*"\{\{"\s*\}\}')
_TOKEN = re.compile(rf"(?P<escape>{BRACE_ESCAPE.pattern})|{PLACEHOLDER.pattern}")

# the old forms (string.Template's, as exception-playbook read them; condition-engine's whole string)
_OLD_ID = r"(?a:[_a-z][_a-z0-9]*(?:\.[_a-z0-9]+)*)"
_DOLLAR = re.compile(rf"\$(?:(?P<dollar>\$)|(?P<named>{_OLD_ID})|\{{(?P<braced>{_OLD_ID})\}})", re.IGNORECASE)


class TemplateError(ValueError):
    """A template over the bounds, or a placeholder path that is not one."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


# -- the one lookup ---------------------------------------------------------------------------


def step(node: Any, key: str) -> Any:
    """One segment: a mapping's key, or a list's index (digits); ``MISSING`` when there is none."""
    if isinstance(node, Mapping):
        return node.get(key, MISSING)
    if isinstance(node, list | tuple) and key.isascii() and key.isdigit() and len(key) < 10:
        index = int(key)
        return node[index] if index < len(node) else MISSING
    return MISSING


def lookup(data: Any, path: str | Sequence[str]) -> Any:
    """The value at a dotted path (``"a.b.0"`` or its segments), or ``MISSING``. Data only: no attributes."""
    node = data
    for key in path.split(".") if isinstance(path, str) else path:
        node = step(node, key)
        if node is MISSING:
            return MISSING
    return node


def to_text(value: Any) -> str:
    """How a value reads inside text: strings as they are, ``null`` as nothing, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


# -- parsing and rendering --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placeholder:
    path: str
    raw: str  # as written: what an unresolved placeholder renders as


Piece = str | Placeholder


def check_path(path: str) -> None:
    if len(path) > MAX_PATH_LENGTH:
        raise TemplateError(f"a placeholder path of {len(path)} characters is over the limit of {MAX_PATH_LENGTH}")
    if path.count(".") >= MAX_PATH_SEGMENTS:
        raise TemplateError(f"a placeholder path of more than {MAX_PATH_SEGMENTS} segments")


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TemplateError(f"more than {MAX_PLACEHOLDERS} placeholders")


def parse(text: str, *, old_dollar: bool = False, budget: _Budget | None = None) -> list[Piece]:
    """Text and placeholders, in order; ``old_dollar`` also reads ``${path}``/``$path``/``$$``."""
    budget = budget or _Budget(MAX_PLACEHOLDERS)
    pieces: list[Piece] = []
    pos = 0
    for chunk_start, chunk_end, old in _old_spans(text) if old_dollar else [(0, len(text), None)]:
        for m in _TOKEN.finditer(text, chunk_start, chunk_end):
            if m.start() > pos:
                pieces.append(text[pos : m.start()])
            if m.group("escape"):
                pieces.append("{{")
            else:
                budget.take()
                check_path(m.group(2))
                pieces.append(Placeholder(m.group(2), m.group(0)))
            pos = m.end()
        if chunk_end > pos:
            pieces.append(text[pos:chunk_end])
        pos = chunk_end
        if old is not None:
            if old.group("dollar"):
                pieces.append("$")
            else:
                budget.take()
                path = old.group("named") or old.group("braced")
                check_path(path)
                pieces.append(Placeholder(path, old.group(0)))
            pos = old.end()
    return _merge(pieces)


def _old_spans(text: str) -> list[tuple[int, int, re.Match[str] | None]]:
    """The text between old ``$`` forms (searched for new placeholders) and each old form after it."""
    spans: list[tuple[int, int, re.Match[str] | None]] = []
    pos = 0
    for m in _DOLLAR.finditer(text):
        spans.append((pos, m.start(), m))
        pos = m.end()
    spans.append((pos, len(text), None))
    return spans


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += p
                continue
        out.append(p)
    return out


def has_placeholders(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


def is_templated(text: str) -> bool:
    """Whether rendering changes anything in ``text`` (a placeholder or the escape)."""
    return _TOKEN.search(text) is not None


def render(text: str, data: Any, *, old_dollar: bool = False) -> tuple[str, list[str]]:
    """The text with each placeholder's value, and the paths that did not resolve (left as written)."""
    out: list[str] = []
    missing: list[str] = []
    for piece in parse(text, old_dollar=old_dollar):
        if isinstance(piece, str):
            out.append(piece)
            continue
        value = lookup(data, piece.path)
        if value is MISSING:
            missing.append(piece.path)
            out.append(piece.raw)
        else:
            out.append(to_text(value))
    return "".join(out), missing


def whole(text: str) -> str | None:
    """The path when ``text`` is exactly one placeholder (its value then keeps its type)."""
    m = PLACEHOLDER.fullmatch(text)
    if m is None:
        return None
    check_path(m.group(1))
    return m.group(1)


def render_value(value: Any, data: Any, missing: list[str], *, typed: bool = False, old_dollar: bool = False) -> Any:
    """Every string inside a JSON value rendered; with ``typed``, a string that is one placeholder
    becomes the value itself (a number stays a number)."""
    if isinstance(value, str):
        if typed:
            path = whole(value)
            if path is not None:
                found = lookup(data, path)
                if found is MISSING:
                    missing.append(path)
                    return value
                return found
        text, gaps = render(value, data, old_dollar=old_dollar)
        missing.extend(gaps)
        return text
    if isinstance(value, list):
        return [render_value(v, data, missing, typed=typed, old_dollar=old_dollar) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, data, missing, typed=typed, old_dollar=old_dollar) for k, v in value.items()}
    return value


def substitute(text: str, value: Callable[[str], str]) -> str:
    """``{{ .path }}`` replaced by ``value(path)`` and the escape by ``{{``, in one pass."""
    return "".join(p if isinstance(p, str) else value(p.path) for p in parse(text))


def escape_braces(text: str) -> str:
    """``text`` with every ``{{`` written as the escape: nothing in it is a template any more."""
    return text.replace("{{", LITERAL_BRACES)


def unescape(text: str) -> str:
    """The escape turned back into ``{{``; placeholders left as written."""
    return BRACE_ESCAPE.sub("{{", text)


def check(value: Any) -> None:
    """Raise ``TemplateError`` if any string in a JSON value is over the bounds."""
    budget = _Budget(MAX_PLACEHOLDERS)
    _walk_strings(value, lambda s: parse(s, budget=budget))


def _walk_strings(value: Any, fn: Callable[[str], object]) -> None:
    if isinstance(value, str):
        fn(value)
    elif isinstance(value, list):
        for v in value:
            _walk_strings(v, fn)
    elif isinstance(value, dict):
        for v in value.values():
            _walk_strings(v, fn)


# -- the old forms ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deprecation:
    """An old placeholder rewritten: where (``actions[0].params.title``), as written, and its new form."""

    path: str
    old: str
    replacement: str

    def as_warning(self) -> dict[str, str]:
        return {
            "code": "deprecated_template",
            "message": f"{self.old} is a deprecated placeholder form, stored as {self.replacement}; "
            "write {{ .path }} (the old forms are refused in a later release)",
            "path": self.path,
            "replacement": self.replacement,
        }


class TemplateWarning(BaseModel):
    """A deprecation reported in a create/update response: the input was accepted and stored converted."""

    code: str = Field(description="deprecated_template")
    message: str
    path: str = Field(description="Where in the document, e.g. actions[0].params.metadata.doc.")
    replacement: str = Field(description="The placeholder as stored, e.g. {{ .event.id }}.")


def warnings_of(deprecations: list[Deprecation]) -> list[TemplateWarning]:
    return [TemplateWarning(**d.as_warning()) for d in deprecations]


def placeholder(path: str) -> str:
    return "{{ ." + path + " }}"


def upgrade_dollar(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``${path}``/``$path`` as ``{{ .path }}`` and ``$$`` as ``$``; renders the same as before.
    Returns the new text and each (old, new) placeholder rewritten. A text that already holds a
    ``{{ .path }}`` or the escape is in the new language and left as it is."""
    if is_templated(text):
        return text, []
    out: list[str] = []
    changes: list[tuple[str, str]] = []
    pos = 0
    for m in _DOLLAR.finditer(text):
        out.append(text[pos : m.start()])
        if m.group("dollar"):
            out.append("$")
        else:
            path = m.group("named") or m.group("braced")
            check_path(path)
            if len(changes) >= MAX_PLACEHOLDERS:
                raise TemplateError(f"more than {MAX_PLACEHOLDERS} placeholders")
            out.append(placeholder(path))
            changes.append((m.group(0), placeholder(path)))
        pos = m.end()
    if not changes and pos == 0:
        return text, []
    out.append(text[pos:])
    return "".join(out), changes


_DOWN_ID = re.compile(_OLD_ID + "$", re.IGNORECASE)
_DOLLAR_LIKE = re.compile(r"\$(?=[\${_a-zA-Z])")


def downgrade_dollar(text: str) -> str:
    """The inverse of :func:`upgrade_dollar` where the old form can say it (paths it could not
    write, with ``-`` or a leading digit, stay in the new form)."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(_DOLLAR_LIKE.sub("$$", text[pos : m.start()]))
        if m.group("escape"):
            out.append("{{")
        elif _DOWN_ID.match(m.group(2)):
            out.append("${" + m.group(2) + "}")
        else:
            out.append(m.group(0))
        pos = m.end()
    if pos == 0:
        return _DOLLAR_LIKE.sub("$$", text)
    out.append(_DOLLAR_LIKE.sub("$$", text[pos:]))
    return "".join(out)


def upgrade_bare(text: str) -> str | None:
    """A whole-string ``{{ dotted.path }}`` (the old condition-engine form) as ``{{ .dotted.path }}``;
    None when ``text`` is not one."""
    inner = bare_inner(text)
    if inner is None or not PATH_PATTERN.match(inner):
        return None
    check_path(inner)
    return placeholder(inner)


def bare_inner(text: str) -> str | None:
    """What a whole-string ``{{ ... }}`` holds (spaces around it dropped), None for other text.
    Sliced, not matched: a lazy regex over a long run of spaces is quadratic."""
    if len(text) < 4 or not text.startswith("{{") or not text.endswith("}}"):
        return None
    inner = text[2:-2].strip()
    return None if "\n" in inner else inner


def is_old_bare(text: str) -> bool:
    """``{{ something }}`` as a whole string that is neither a new placeholder nor the escape."""
    return bare_inner(text) is not None and not PLACEHOLDER.fullmatch(text) and not BRACE_ESCAPE.fullmatch(text)


def downgrade_bare(text: str) -> str:
    m = PLACEHOLDER.fullmatch(text)
    return "{{ " + m.group(1) + " }}" if m else text


def upgrade_document(
    value: Any, where: str, convert: Callable[[str], tuple[str, list[tuple[str, str]]]]
) -> tuple[Any, list[Deprecation]]:
    """Every string inside a JSON value converted; the deprecations with their location."""
    found: list[Deprecation] = []

    def walk(v: Any, at: str) -> Any:
        if isinstance(v, str):
            text, changes = convert(v)
            found.extend(Deprecation(at, old, new) for old, new in changes)
            return text
        if isinstance(v, list):
            return [walk(x, f"{at}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {k: walk(x, f"{at}.{k}") for k, x in v.items()}
        return v

    return walk(value, where), found


def bare_change(text: str) -> tuple[str, list[tuple[str, str]]]:
    """:func:`upgrade_bare` in the shape :func:`upgrade_document` takes."""
    new = upgrade_bare(text)
    return (text, []) if new is None else (new, [(text, new)])
