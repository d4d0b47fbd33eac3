"""One Python function per playbook version: every condition inlined, no frame per condition
(within the fusing bounds below; a larger playbook gets one generated function per condition).

The generated source is built from this module's fixed templates and nothing else. What a user
wrote (field names, string values, numbers) never becomes source text: each condition's path
segments and value are passed as arguments to a generated factory, whose inner function reads
them as closure cells. The only things formatted into the source are integer indices counted
here and operator symbols chosen from ``_SYMBOLS`` by a dictionary lookup (an unknown operator
is a ``KeyError``, never text). So the source depends only on the playbook's *shape* (each
condition's operator, value type and number of path segments); ``source_for`` is cached by
shape, and two playbooks with the same shape share one compiled code object.

The generated function returns the index of the first condition that fails, or -1 when all
hold. Every condition sits in its own ``try`` (free in CPython 3.11 until something raises):
an exception while testing condition ``i`` fails condition ``i``, as the interpreter did, so
the function never raises whatever the event holds.

Conditions that share a path prefix (``metrics.a``, ``metrics.b``) share its lookup: the first
of them keeps the prefix's node in a local (``q0_1``) and the later ones subscript from there.
A later condition runs only when every earlier one held, so the local is set by then; when the
earlier condition had to take the slow path (a list indexed by a digit segment, or no
container), it sets its locals to ``None``, whose subscript raises ``TypeError`` and sends the
later condition down the same slow path from the event's root. Which conditions share what is
part of the shape (integers only: condition and depth), never the keys themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# The operator symbols allowed in generated source, by DSL operator.
_SYMBOLS = {"equals": "==", "not_equals": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})

# A condition's shape: (operator, value kind, number of path segments, base, stores). Value
# kinds: "number", "bool", "str" (the only kinds validation lets through). ``base`` is None (the
# path starts at the event) or (j, d): its first d segments are those of condition j, whose node
# condition j keeps in ``qj_d``. ``stores``: the depths whose nodes this condition keeps for
# later ones. A three-item condition (op, kind, segments) shares nothing.
ConditionShape = tuple[str, str, int] | tuple[str, str, int, tuple[int, int] | None, tuple[int, ...]]
Shape = tuple[ConditionShape, ...]


def value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"condition values are strings, numbers or booleans, not {type(value).__name__}")


def _test_lines(i: int, op: str, kind: str, fail: str) -> list[str]:
    """Statements that run ``fail`` when the looked-up ``v`` fails condition ``i``."""
    if op in _ORDERING or (op in ("equals", "not_equals") and kind == "number"):
        if kind != "number":
            raise ValueError(f"{op} compares numbers")
        sym = _SYMBOLS[op]
        return [
            "k = type(v)",
            "if k is int or k is float:",
            f"    if not (v {sym} e{i}): {fail}",
            "elif k is str:",  # the documented coercion of decimal strings; plain digits inline
            # isdecimal() is the \d of as_number's expression: int() reads those strings the same.
            "    v = int(v) if v.isdecimal() and len(v) <= 64 else as_number(v)",
            f"    if v is None or not (v {sym} e{i}): {fail}",
            "else:",
            f"    {fail}",
        ]
    if op == "equals":
        expr = f"v is e{i}" if kind == "bool" else f"type(v) is str and v == e{i}"
    elif op == "not_equals":
        expr = f"type(v) is bool and v is not e{i}" if kind == "bool" else f"type(v) is str and v != e{i}"
    elif op == "starts_with":
        if kind != "str":
            raise ValueError("starts_with needs a string")
        expr = f"type(v) is str and v.startswith(e{i})"
    elif op == "contains" and kind == "str":
        # `in` over a list compares items by ==; a boolean or number item never equals a string.
        expr = f"((k := type(v)) is str or k is list) and e{i} in v"
    elif op == "contains":
        # A number or boolean in an array, compared as the explaining check does (1 is not True):
        # rare enough to keep its one call.
        expr = f"c{i}(v) is None"
    else:
        raise ValueError(f"unknown operator {op!r}")
    return [f"if not ({expr}): {fail}"]


def _sharing(shape: Shape) -> list[tuple[tuple[int, int] | None, tuple[int, ...]]]:
    """Each condition's (base, stores), checked: only ints the generator can vouch for reach source."""
    defined: set[tuple[int, int]] = set()
    out: list[tuple[tuple[int, int] | None, tuple[int, ...]]] = []
    for i, condition in enumerate(shape):
        segments = condition[2]
        base, stores = (condition[3], condition[4]) if len(condition) == 5 else (None, ())  # type: ignore[misc]
        if type(segments) is not int or segments < 1:
            raise ValueError("a path has at least one segment")
        start = 0
        if base is not None:
            j, start = base
            if type(j) is not int or type(start) is not int or (j, start) not in defined or not 0 < start < segments:
                raise ValueError(f"condition {i} shares a prefix no earlier condition keeps")
        if any(type(d) is not int for d in stores) or list(stores) != sorted(set(stores)):
            raise ValueError(f"condition {i} keeps depths that are not increasing integers")
        if stores and not start < stores[0] <= stores[-1] < segments:
            raise ValueError(f"condition {i} keeps depths outside its own path")
        defined |= {(i, d) for d in stores}
        out.append((base, tuple(stores)))
    return out


def _path_lines(i: int, segments: int, base: tuple[int, int] | None, stores: tuple[int, ...]) -> list[str]:
    """Statements that set ``v`` to condition ``i``'s node, keeping the nodes at ``stores``."""
    node, start = ("event", 0) if base is None else (f"q{base[0]}_{base[1]}", base[1])
    lines: list[str] = []
    for depth in stores:
        node += "".join(f"[k{i}_{j}]" for j in range(start, depth))
        lines.append(f"q{i}_{depth} = {node}")
        node, start = f"q{i}_{depth}", depth
    lines.append("v = " + node + "".join(f"[k{i}_{j}]" for j in range(start, segments)))
    return lines


@lru_cache(maxsize=1024)
def source_for(shape: Shape, verdict: str = "index") -> str:
    """The factory's source for a shape; user text cannot reach it (see the module docstring).

    ``verdict`` "index": the function returns the first failing index, or -1; "bool": whether
    every condition holds (the same body, for callers that need no explanation).
    """
    if verdict not in ("index", "bool"):
        raise ValueError(f"unknown verdict {verdict!r}")
    if not fusable(shape):
        raise ValueError(f"a shape of {len(shape)} conditions is past the fusing bounds; generate per condition")
    params = ["lookup", "MISSING", "as_number"]
    body: list[str] = []
    for i, (condition, (base, stores)) in enumerate(zip(shape, _sharing(shape), strict=True)):
        op, kind, segments = condition[0], condition[1], condition[2]
        keys = [f"k{i}_{j}" for j in range(segments)]
        fail = f"return {i}" if verdict == "index" else "return False"
        params += [f"p{i}", f"e{i}", f"c{i}", *keys]
        body += [
            "try:",
            "    try:",
            *("        " + line for line in _path_lines(i, segments, base, stores)),
            "    except KeyError:",
            f"        {fail}",
            "    except (TypeError, IndexError):",  # a list indexed by a digit segment, or no container
            # The kept nodes may be unset or stale: later conditions go the slow way from the root.
            *(f"        q{i}_{d} = None" for d in stores),
            f"        v = lookup(event, p{i})",
            "        if v is MISSING:",
            f"            {fail}",
            *("    " + line for line in _test_lines(i, op, kind, fail)),
            "except Exception:",  # never raise, whatever the event holds
            f"    {fail}",
        ]
    body.append("return -1" if verdict == "index" else "return True")
    return "\n".join(
        [
            f"def factory({', '.join(params)}):",
            "    def first_failure(event):",
            *("        " + line for line in body),
            "    return first_failure",
        ]
    )


@lru_cache(maxsize=1024)
def _factory_for(shape: Shape, verdict: str) -> Callable[..., Callable[[Any], Any]]:
    # The generated code sees only the builtins it uses (no __import__, no open, no eval).
    # type(v) rather than v.__class__: CPython 3.11 specializes the call, not that attribute.
    builtins = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "len": len, "type": type}
    builtins |= {"KeyError": KeyError, "TypeError": TypeError, "IndexError": IndexError, "Exception": Exception}
    namespace: dict[str, Any] = {"__builtins__": builtins}
    exec(compile(source_for(shape, verdict), "<playbook conditions>", "exec"), namespace)  # fixed templates only
    return namespace["factory"]


# Compiling costs CPU time in proportion to the source (figures: docs/decisions/0015), and
# playbooks are compiled on the worker's event loop, where an org may own 500 with a different
# shape each. So only shapes up to these bounds are fused into one function; a larger playbook
# runs as a loop over one generated function per condition. There are at most 384
# single-condition shapes, each compiled once and cached.
FUSE_MAX_CONDITIONS = 8
FUSE_MAX_SEGMENTS = 24


def fusable(shape: Shape) -> bool:
    return len(shape) <= FUSE_MAX_CONDITIONS and sum(condition[2] for condition in shape) <= FUSE_MAX_SEGMENTS


Spec = tuple[str, tuple[str, ...], Any, Callable[[Any], str | None]]  # (op, path keys, value, explaining check)


def _generate(conditions: Sequence[Spec], verdict: str, helpers: tuple[Any, ...]) -> Callable[[Any], Any]:
    shape = shape_of(conditions)
    args: list[Any] = list(helpers)
    for _op, keys, value, check in conditions:
        args += [keys, value, check, *keys]
    return _factory_for(shape, verdict)(*args)


def shape_of(conditions: Sequence[Spec]) -> Shape:
    """The shape of conditions, with the path prefixes they share (by equal keys, as integers)."""
    paths = [keys for _op, keys, _value, _check in conditions]
    kept: dict[tuple[str, ...], tuple[int, int]] = {}  # a prefix -> (condition, depth) keeping its node
    shape: list[ConditionShape] = []
    for i, (op, keys, value, _check) in enumerate(conditions):
        start = next((d for d in range(len(keys) - 1, 0, -1) if keys[:d] in kept), 0)
        base = kept[keys[:start]] if start else None
        # Keep a node only when a later path goes through it and on past it.
        later = paths[i + 1 :]
        stores = tuple(d for d in range(start + 1, len(keys)) if any(len(p) > d and p[:d] == keys[:d] for p in later))
        kept |= {keys[:d]: (i, d) for d in stores}
        shape.append((op, value_kind(value), len(keys), base, stores))
    return tuple(shape)


def build(
    conditions: Sequence[Spec],
    verdict: str,
    lookup: Callable[[Any, tuple[str, ...]], Any],
    missing: object,
    as_number: Callable[[Any], Any],
) -> Callable[[Any], Any]:
    """The ``verdict`` function ("index": first failing index or -1; "bool": all hold) of the conditions.

    Fused into one function when the shape is within the bounds above; otherwise a loop over
    one generated function per condition (its ``parts``), which decides the same.
    """
    helpers = (lookup, missing, as_number)
    # Counted before the shape: finding shared prefixes is quadratic, so only for fusable sizes.
    if (
        len(conditions) <= FUSE_MAX_CONDITIONS
        and sum(len(keys) for _op, keys, _v, _c in conditions) <= FUSE_MAX_SEGMENTS
    ):
        return _generate(conditions, verdict, helpers)
    parts = tuple(_generate([c], "bool", helpers) for c in conditions)

    if verdict == "index":

        def first_failure(event: Any) -> int:
            for index, test in enumerate(parts):
                if not test(event):
                    return index
            return -1

        first_failure.parts = parts  # type: ignore[attr-defined]
        return first_failure

    def matches(event: Any) -> bool:
        for test in parts:  # noqa: SIM110 (a plain loop: faster than all() over a generator)
            if not test(event):
                return False
        return True

    matches.parts = parts  # type: ignore[attr-defined]
    return matches
