"""The condition DSL: ``{"field": "metrics.pack_type", "op": "equals", "value": "..."}``, ANDed.

Conditions are validated when a playbook is written (``validate_conditions``) and compiled once
per playbook version (``compile_conditions``) into generated code (``dsl_codegen``): the path
is split, the operator resolved and the value typed ahead of time, so evaluating an event is a
few dictionary lookups and one compare per condition, in a single Python frame for playbooks
within the fusing bounds (one frame per condition past them).

Evaluation never raises. A missing field, a null, or a value whose type does not fit the
operator is a failed condition whose message says which and why.

Numbers compare as numbers: ``6 == 6.0``. Booleans are not numbers. When the condition's value
is a number, an event value that is a decimal string (``"3"``, ``"-4.5"``, ``"1e3"``) is read as
that number, because upstream systems often send metrics as strings; when the condition's value
is a string, no coercion happens (``"6"`` does not equal ``6``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from playbooks_contracts.templating import MISSING, PATH_PATTERN, step

from . import dsl_codegen

OPERATORS = ("equals", "not_equals", "starts_with", "contains", "gt", "gte", "lt", "lte")
ORDERING = frozenset({"gt", "gte", "lt", "lte"})

MAX_CONDITIONS = 50
MAX_PATH_LENGTH = 256
MAX_PATH_SEGMENTS = 16
MAX_STRING_VALUE = 1024
# A field is a dotted path of the one template language (PATH_PATTERN); a segment of digits also
# indexes into a list.
_DECIMAL = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_MAX_NUMERIC_STRING = 64  # longer strings are not read as numbers (int() of huge digit runs is slow)

_MISSING = MISSING
# Tuples, not ``int | float``: on the evaluation path a union written inline is built anew per call.
_NUMBERS = (int, float)
_SCALARS = (str, int, float, bool)


class ConditionError(ValueError):
    """A condition that cannot be accepted; ``index`` names it, ``field`` names the bad part."""

    def __init__(self, index: int, part: str, reason: str) -> None:
        super().__init__(f"conditions[{index}].{part}: {reason}")
        self.index, self.part, self.reason = index, part, reason


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: str | int | float | bool

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class ConditionResult:
    index: int
    condition: Condition
    passed: bool
    message: str
    actual: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            **self.condition.as_dict(),
            "passed": self.passed,
            "message": self.message,
            "actual": self.actual,
        }


def is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


def parse_condition(index: int, raw: Any) -> Condition:
    """One condition from its JSON form, or a ``ConditionError`` saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ConditionError(index, "(condition)", f"expected an object with field, op and value, got {_kind(raw)}")
    unknown = sorted(set(raw) - {"field", "op", "value"})
    if unknown:
        raise ConditionError(index, unknown[0], "unknown key; a condition has only field, op and value")
    field, op = raw.get("field"), raw.get("op")
    if not isinstance(field, str) or not field:
        raise ConditionError(index, "field", "a dotted path into the event is required, e.g. activity.type")
    if len(field) > MAX_PATH_LENGTH or not PATH_PATTERN.match(field) or field.count(".") >= MAX_PATH_SEGMENTS:
        raise ConditionError(
            index,
            "field",
            f"{field[:80]!r} is not a dotted path of keys (letters, digits, _ and -, "
            f"at most {MAX_PATH_SEGMENTS} segments), e.g. metrics.pack_type",
        )
    if op not in OPERATORS:
        raise ConditionError(index, "op", f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if "value" not in raw:
        raise ConditionError(index, "value", "a value is required (a string, number or boolean)")
    value = raw["value"]
    if value is None or not isinstance(value, str | int | float | bool):
        raise ConditionError(index, "value", f"must be a string, number or boolean, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConditionError(index, "value", "must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ConditionError(index, "value", "integer does not fit in 64 bits")
    if isinstance(value, str) and len(value) > MAX_STRING_VALUE:
        raise ConditionError(index, "value", f"longer than {MAX_STRING_VALUE} characters")
    if op in ORDERING and not is_number(value):
        raise ConditionError(index, "value", f"{op} compares numbers; got {_kind(value)} {value!r}")
    if op == "starts_with" and not isinstance(value, str):
        raise ConditionError(index, "value", f"starts_with needs a string prefix; got {_kind(value)}")
    if op in ("starts_with", "contains") and value == "":
        raise ConditionError(index, "value", f"{op} with an empty string always passes; remove the condition")
    return Condition(field, op, value)


def validate_conditions(raw: Any) -> list[Condition]:
    """Every condition of a playbook, checked; the first bad one raises ``ConditionError``."""
    if not isinstance(raw, list):
        raise ConditionError(0, "(conditions)", f"conditions must be an array, got {_kind(raw)}")
    if len(raw) > MAX_CONDITIONS:
        raise ConditionError(MAX_CONDITIONS, "(condition)", f"at most {MAX_CONDITIONS} conditions per playbook")
    return [parse_condition(i, c) for i, c in enumerate(raw)]


# -- evaluation ---------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # the failure message, or None when the condition holds


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _as_number(actual: Any) -> int | float | None:
    """The event value as a number (numbers, and decimal strings: the documented coercion)."""
    kind = actual.__class__
    if kind is int or kind is float:
        return actual  # type: ignore[no-any-return]
    # isdecimal() holds for exactly the strings of \d that the expression below reads with int().
    if kind is str and actual.isdecimal() and len(actual) <= _MAX_NUMERIC_STRING:
        return int(actual)
    if is_number(actual):
        return actual
    if isinstance(actual, str) and len(actual) <= _MAX_NUMERIC_STRING and _DECIMAL.match(actual):
        text = actual.strip()
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except (ValueError, OverflowError):
            return None
    return None


def _equality(op: str, expected: str | int | float | bool) -> Check:
    want = op == "equals"
    if isinstance(expected, bool):

        def check_bool(actual: Any) -> str | None:
            if not isinstance(actual, bool):
                return f"expected a boolean, got {_kind(actual)}"
            return None if (actual is expected) == want else f"is {actual}"

        return check_bool
    if is_number(expected):

        def check_number(actual: Any) -> str | None:
            number = _as_number(actual)
            if number is None:
                return f"expected a number, got {_kind(actual)}"
            return None if (number == expected) == want else f"is {number}"

        return check_number

    def check_string(actual: Any) -> str | None:
        if not isinstance(actual, str):
            return f"expected a string, got {_kind(actual)}"
        return None if (actual == expected) == want else f"is {_short(actual)}"

    return check_string


def _ordering(op: str, bound: int | float) -> Check:
    compare: Callable[[Any, Any], bool] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }[op]

    def check(actual: Any) -> str | None:
        number = _as_number(actual)
        if number is None:
            return f"expected a number, got {_kind(actual)}"
        return None if compare(number, bound) else f"is {number}"

    return check


def _starts_with(prefix: str) -> Check:
    def check(actual: Any) -> str | None:
        if not isinstance(actual, str):
            return f"expected a string, got {_kind(actual)}"
        return None if actual.startswith(prefix) else f"is {_short(actual)}"

    return check


def _contains(needle: str | int | float | bool) -> Check:
    """A substring of a string, or an element of an array (numbers by value, not by type)."""

    def check(actual: Any) -> str | None:
        if isinstance(actual, str):
            if not isinstance(needle, str):
                return f"is a string; a {_kind(needle)[2:]} cannot be a substring of it"
            return None if needle in actual else f"is {_short(actual)}"
        if isinstance(actual, list):
            for item in actual:
                if isinstance(needle, bool) or isinstance(item, bool):
                    if item is needle:
                        return None
                elif item == needle:
                    return None
            return f"is an array of {len(actual)} items without {needle!r}"
        return f"expected a string or an array, got {_kind(actual)}"

    return check


_BUILDERS: dict[str, Callable[[str, Any], Check]] = {
    "equals": _equality,
    "not_equals": _equality,
    "gt": _ordering,
    "gte": _ordering,
    "lt": _ordering,
    "lte": _ordering,
    "starts_with": lambda _op, v: _starts_with(v),
    "contains": lambda _op, v: _contains(v),
}


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _describe(c: Condition) -> str:
    return f"{c.field} {c.op} {c.value!r}"


def _lookup(event: Any, keys: tuple[str, ...]) -> Any:
    """``templating.lookup``, with plain dictionaries (every object of a JSON event) read inline."""
    node = event
    for key in keys:
        node = node.get(key, _MISSING) if node.__class__ is dict else step(node, key)
        if node is _MISSING:
            return _MISSING
    return node


# -- the hot path: one generated function per playbook version (dsl_codegen) -------------------


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    index: int
    condition: Condition
    keys: tuple[str, ...]
    check: Check  # explains a verdict (the generated functions decide it, fast)
    # The messages' fixed parts, written once per playbook version instead of once per event.
    missing: str = dataclasses.field(init=False)
    null: str = dataclasses.field(init=False)
    passed_message: str = dataclasses.field(init=False)
    failed_prefix: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        c = self.condition
        for name, text in (
            ("missing", f"{c.field} is missing from the event"),
            ("null", f"{c.field} is null"),
            ("passed_message", f"passed: {_describe(c)}"),
            ("failed_prefix", f"failed: {_describe(c)}; {c.field} "),
        ):
            object.__setattr__(self, name, text)

    def evaluate(self, event: Any) -> ConditionResult:
        c = self.condition
        try:
            actual = _lookup(event, self.keys)
            if actual is _MISSING:
                return ConditionResult(self.index, c, False, self.missing)
            if actual is None:
                return ConditionResult(self.index, c, False, self.null)
            failure = self.check(actual)
        except Exception as exc:  # never raise, whatever the event holds
            return ConditionResult(self.index, c, False, f"{c.field} could not be compared: {type(exc).__name__}")
        shown = actual if isinstance(actual, _SCALARS) else _kind(actual)
        if failure is None:
            return ConditionResult(self.index, c, True, self.passed_message, shown)
        return ConditionResult(self.index, c, False, self.failed_prefix + failure, shown)


@dataclass(frozen=True)  # no slots: ``matches`` is cached in the instance
class CompiledConditions:
    """The conditions of one playbook version, ready to evaluate many events.

    ``first_failing`` and ``matches`` are generated functions (``dsl_codegen``): up to its
    fusing bounds a playbook's conditions are inlined into one frame. Both never raise.
    ``matches`` is generated on first use; the worker only asks ``first_failing``.
    """

    conditions: tuple[CompiledCondition, ...]
    first_failing: Callable[[Any], int]  # the index of the first failing condition, or -1

    @cached_property
    def matches(self) -> Callable[[Any], bool]:
        """Whether every condition holds (AND, short-circuit), as a function of the event."""
        return dsl_codegen.build(_specs(self.conditions), "bool", _lookup, _MISSING, _as_number)

    def evaluate(self, event: Any) -> list[ConditionResult]:
        """Every condition's result (for dry-runs and explanations)."""
        return [c.evaluate(event) for c in self.conditions]

    def first_failure(self, event: Any) -> ConditionResult | None:
        """The first condition that fails, explained, or None when all pass: the worker's question."""
        index = self.first_failing(event)
        return None if index < 0 else self.conditions[index].evaluate(event)


def _specs(conditions: Sequence[CompiledCondition]) -> list[dsl_codegen.Spec]:
    return [(c.condition.op, c.keys, c.condition.value, c.check) for c in conditions]


def compile_conditions(conditions: Sequence[Condition]) -> CompiledConditions:
    compiled = tuple(
        CompiledCondition(i, c, tuple(c.field.split(".")), _BUILDERS[c.op](c.op, c.value))
        for i, c in enumerate(conditions)
    )
    return CompiledConditions(compiled, dsl_codegen.build(_specs(compiled), "index", _lookup, _MISSING, _as_number))


def compile_raw(raw: Any) -> CompiledConditions:
    """Validate and compile stored conditions (raises ``ConditionError`` on a bad one)."""
    return compile_conditions(validate_conditions(raw))
