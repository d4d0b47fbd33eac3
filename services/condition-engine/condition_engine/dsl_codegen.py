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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# The operator symbols allowed in generated source, by DSL operator.
_SYMBOLS = {"equals": "==", "not_equals": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})

# A condition's shape: (operator, value kind, number of path segments). Value kinds: "number",
# "bool", "str" (the only kinds validation lets through).
Shape = tuple[tuple[str, str, int], ...]


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
            "k = v.__class__",
            "if k is int or k is float:",
            f"    if not (v {sym} e{i}): {fail}",
            "elif k is str:",  # the documented coercion of decimal strings; plain ASCII digits inline
            "    v = int(v) if v.isascii() and v.isdigit() and len(v) <= 64 else as_number(v)",
            f"    if v is None or not (v {sym} e{i}): {fail}",
            "else:",
            f"    {fail}",
        ]
    if op == "equals":
        expr = f"v is e{i}" if kind == "bool" else f"v.__class__ is str and v == e{i}"
    elif op == "not_equals":
        expr = f"v.__class__ is bool and v is not e{i}" if kind == "bool" else f"v.__class__ is str and v != e{i}"
    elif op == "starts_with":
        if kind != "str":
            raise ValueError("starts_with needs a string")
        expr = f"v.__class__ is str and v.startswith(e{i})"
    elif op == "contains" and kind == "str":
        # `in` over a list compares items by ==; a boolean or number item never equals a string.
        expr = f"(v.__class__ is str or v.__class__ is list) and e{i} in v"
    elif op == "contains":
        # A number or boolean in an array, compared as the explaining check does (1 is not True):
        # rare enough to keep its one call.
        expr = f"c{i}(v) is None"
    else:
        raise ValueError(f"unknown operator {op!r}")
    return [f"if not ({expr}): {fail}"]


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
    for i, (op, kind, segments) in enumerate(shape):
        if segments < 1:
            raise ValueError("a path has at least one segment")
        keys = [f"k{i}_{j}" for j in range(segments)]
        fail = f"return {i}" if verdict == "index" else "return False"
        params += [f"p{i}", f"e{i}", f"c{i}", *keys]
        body += [
            "try:",
            "    try:",
            "        v = event" + "".join(f"[{k}]" for k in keys),
            "    except KeyError:",
            f"        {fail}",
            "    except (TypeError, IndexError):",  # a list indexed by a digit segment, or no container
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
    builtins = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "len": len}
    builtins |= {"KeyError": KeyError, "TypeError": TypeError, "IndexError": IndexError, "Exception": Exception}
    namespace: dict[str, Any] = {"__builtins__": builtins}
    exec(compile(source_for(shape, verdict), "<playbook conditions>", "exec"), namespace)  # fixed templates only
    return namespace["factory"]  # type: ignore[no-any-return]


# Compiling costs CPU time in proportion to the source: about 0.1 ms per condition and path
# segment together (9 ms for 50 conditions of 16 segments, where a closure per condition cost
# 0.1 ms for all 50). Playbooks are compiled on the worker's event loop, and an org may own 500
# with a different shape each. So only shapes up to these bounds are fused into one function
# (about 1 ms to compile at most). A larger playbook runs as a loop over one generated function
# per condition. There are at most 384 single-condition shapes, each compiled once and cached.
FUSE_MAX_CONDITIONS = 8
FUSE_MAX_SEGMENTS = 24


def fusable(shape: Shape) -> bool:
    return len(shape) <= FUSE_MAX_CONDITIONS and sum(segments for _op, _kind, segments in shape) <= FUSE_MAX_SEGMENTS


Spec = tuple[str, tuple[str, ...], Any, Callable[[Any], str | None]]  # (op, path keys, value, explaining check)


def _generate(conditions: Sequence[Spec], verdict: str, helpers: tuple[Any, ...]) -> Callable[[Any], Any]:
    shape = _shape_of(conditions)
    args: list[Any] = list(helpers)
    for _op, keys, value, check in conditions:
        args += [keys, value, check, *keys]
    return _factory_for(shape, verdict)(*args)


def _shape_of(conditions: Sequence[Spec]) -> Shape:
    return tuple((op, value_kind(value), len(keys)) for op, keys, value, _ in conditions)


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
    if fusable(_shape_of(conditions)):
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
