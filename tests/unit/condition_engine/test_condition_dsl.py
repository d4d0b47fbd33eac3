"""The condition DSL: every operator with its edge cases, validation messages, and never raising."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condition_engine.dsl import (
    OPERATORS,
    ConditionError,
    _lookup,
    compile_raw,
    parse_condition,
    validate_conditions,
)
from playbooks_contracts.templating import lookup


def check(op: str, value: Any, actual: Any, field: str = "a.b") -> tuple[bool, str]:
    compiled = compile_raw([{"field": field, "op": op, "value": value}])
    [result] = compiled.evaluate({"a": {"b": actual}})
    assert compiled.matches({"a": {"b": actual}}) is result.passed  # the generated hot path agrees
    return result.passed, result.message


@pytest.mark.parametrize(
    ("op", "value", "actual", "passed"),
    [
        ("equals", "contract_signed", "contract_signed", True),
        ("equals", "contract_signed", "Contract_Signed", False),  # case-sensitive
        ("equals", 6, 6.0, True),  # numbers compare as numbers
        ("equals", 6, "6", True),  # documented: a decimal string against a number is read as the number
        ("equals", 6, " 6.0 ", True),
        ("equals", "6", 6, False),  # but a string condition never coerces
        ("equals", True, True, True),
        ("equals", True, 1, False),  # booleans are not numbers
        ("equals", 1, True, False),
        ("not_equals", "a", "b", True),
        ("not_equals", "a", "a", False),
        ("not_equals", 3, 3.0, False),
        ("not_equals", False, True, True),
        ("starts_with", "deck_", "deck_saved_to_vault", True),
        ("starts_with", "deck_", "contract_deck_", False),
        ("starts_with", "deck_", "deck_", True),
        ("contains", "sign", "contract_signed", True),
        ("contains", "x", "contract", False),
        ("contains", "sox", ["pci", "sox"], True),
        ("contains", 3, [1, 2, 3.0], True),
        ("contains", 1, [True], False),  # True is not the number 1
        ("contains", True, [1], False),
        ("contains", "b", [], False),
        ("gt", 0, 1, True),
        ("gt", 0, 0, False),
        ("gt", 0, -0.5, False),
        ("gte", 0, 0, True),
        ("gte", 0, "0", True),
        ("lt", 6, 5.99, True),
        ("lt", 6, 6, False),
        ("lt", 6, "3", True),
        ("lt", 6, "1e3", False),
        ("lte", 6, 6, True),
        ("lte", 6, 6.0001, False),
        ("lt", 6, 2**70, False),  # big integers compare exactly
        ("gt", 2**62, 2**62 + 1, True),
    ],
)
def test_operators(op: str, value: Any, actual: Any, passed: bool) -> None:
    result, message = check(op, value, actual)
    assert result is passed, message
    assert message.startswith("passed" if passed else "failed")


@pytest.mark.parametrize(
    ("op", "value", "actual", "reason"),
    [
        ("gt", 0, "many", "expected a number, got a string"),
        ("gt", 0, True, "expected a number, got a boolean"),
        ("lt", 6, [1], "expected a number, got an array"),
        ("equals", "x", 1, "expected a string, got a number"),
        ("equals", True, "true", "expected a boolean, got a string"),
        ("starts_with", "deck_", 5, "expected a string, got a number"),
        ("contains", "a", {"a": 1}, "expected a string or an array, got an object"),
        ("contains", 1, "123", "a number cannot be a substring"),
        ("equals", 1, "nan", "expected a number"),  # not a decimal string
        ("gt", 1, "1" * 100, "expected a number"),  # too long to be read as a number
    ],
)
def test_type_mismatches_fail_with_a_reason(op: str, value: Any, actual: Any, reason: str) -> None:
    passed, message = check(op, value, actual)
    assert not passed
    assert reason in message
    assert "a.b" in message


def test_missing_and_null_fields_fail_saying_which() -> None:
    compiled = compile_raw([{"field": "metrics.runway", "op": "lt", "value": 6}])
    assert compiled.evaluate({})[0].message == "metrics.runway is missing from the event"
    assert compiled.evaluate({"metrics": "flat"})[0].message == "metrics.runway is missing from the event"
    assert compiled.evaluate({"metrics": {"runway": None}})[0].message == "metrics.runway is null"
    assert compiled.first_failure({"metrics": {"runway": 3}}) is None


def test_paths_index_into_arrays() -> None:
    compiled = compile_raw([{"field": "activity.tags.1", "op": "equals", "value": "b"}])
    assert compiled.evaluate({"activity": {"tags": ["a", "b"]}})[0].passed
    assert not compiled.evaluate({"activity": {"tags": ["a"]}})[0].passed


def test_conditions_are_anded_and_report_the_first_failure() -> None:
    compiled = compile_raw(
        [
            {"field": "metrics.pack_type", "op": "equals", "value": "investor_accounts_snapshot"},
            {"field": "metrics.estimatedRunwayMonths", "op": "lt", "value": 6},
            {"field": "metrics.totalMonthlyBurn", "op": "gt", "value": 0},
        ]
    )
    good = {"metrics": {"pack_type": "investor_accounts_snapshot", "estimatedRunwayMonths": 3, "totalMonthlyBurn": 1}}
    assert compiled.first_failure(good) is None
    bad = {"metrics": {**good["metrics"], "estimatedRunwayMonths": 9, "totalMonthlyBurn": 0}}
    failure = compiled.first_failure(bad)
    assert failure is not None and failure.index == 1
    assert "metrics.estimatedRunwayMonths is 9" in failure.message
    assert [r.passed for r in compiled.evaluate(bad)] == [True, False, False]


@pytest.mark.parametrize(
    ("raw", "part", "reason"),
    [
        ({"field": "a", "op": "eq", "value": 1}, "op", "unknown operator 'eq'"),
        ({"field": "a..b", "op": "equals", "value": 1}, "field", "is not a dotted path"),
        ({"field": "a b", "op": "equals", "value": 1}, "field", "is not a dotted path"),
        ({"field": "", "op": "equals", "value": 1}, "field", "required"),
        ({"field": "a", "op": "gt", "value": "5"}, "value", "gt compares numbers"),
        ({"field": "a", "op": "lt", "value": True}, "value", "lt compares numbers"),
        ({"field": "a", "op": "starts_with", "value": 5}, "value", "starts_with needs a string"),
        ({"field": "a", "op": "equals", "value": None}, "value", "string, number or boolean"),
        ({"field": "a", "op": "equals", "value": {"x": 1}}, "value", "string, number or boolean"),
        ({"field": "a", "op": "equals"}, "value", "is required"),
        ({"field": "a", "op": "equals", "value": 1, "extra": 2}, "extra", "unknown key"),
        ({"field": "a", "op": "contains", "value": ""}, "value", "always passes"),
        ({"field": "a", "op": "equals", "value": float("inf")}, "value", "finite"),
        ({"field": "a", "op": "equals", "value": 2**64}, "value", "64 bits"),
    ],
)
def test_validation_names_the_index_and_the_reason(raw: dict[str, Any], part: str, reason: str) -> None:
    with pytest.raises(ConditionError) as err:
        validate_conditions([{"field": "ok", "op": "equals", "value": 1}, raw])
    assert err.value.index == 1
    assert err.value.part == part
    assert reason in err.value.reason
    assert str(err.value).startswith(f"conditions[1].{part}: ")


def test_conditions_must_be_a_list_of_objects() -> None:
    with pytest.raises(ConditionError, match="must be an array"):
        validate_conditions({"field": "a"})
    with pytest.raises(ConditionError, match="expected an object"):
        parse_condition(0, "activity.type equals x")


# -- never raises ----------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
fields = st.lists(st.sampled_from(["a", "b", "0", "1", "metrics", "activity", "type"]), min_size=1, max_size=4)
values = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(min_size=1, max_size=10)
)


@st.composite
def valid_conditions(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPERATORS))
        if op in ("gt", "gte", "lt", "lte"):
            value: Any = draw(st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False))
        elif op == "starts_with":
            value = draw(st.text(min_size=1, max_size=10))
        else:
            value = draw(values)
        out.append({"field": ".".join(draw(fields)), "op": op, "value": value})
    return out


@settings(max_examples=300, deadline=None)
@given(conditions=valid_conditions(), event=json_values)
def test_evaluation_never_raises_on_arbitrary_json(conditions: list[dict[str, Any]], event: Any) -> None:
    compiled = compile_raw(conditions)
    results = compiled.evaluate(event)
    assert len(results) == len(conditions)
    assert all(isinstance(r.message, str) and r.message for r in results)
    failure = compiled.first_failure(event)
    assert (failure is None) == all(r.passed for r in results)


@settings(max_examples=300, deadline=None)
@given(raw=json_values)
def test_validation_raises_only_condition_errors(raw: Any) -> None:
    with contextlib.suppress(ConditionError):
        validate_conditions(raw)


@settings(max_examples=300, deadline=None)
@given(conditions=valid_conditions(), event=json_values)
def test_the_generated_functions_agree_with_the_explanations(conditions: list[dict[str, Any]], event: Any) -> None:
    """The one generated function decides what the per-condition explanations say, condition by condition."""
    # As given (fused into one function), and nine times over (past the fusing bounds: a loop
    # over one generated function per condition).
    for compiled in (compile_raw(conditions), compile_raw(conditions * 9)):
        for prefix in ({}, {"a": event}, {"metrics": {"a": event}}):
            wrapped = {**prefix, "b": event} if prefix else event
            passed = [r.passed for r in compiled.evaluate(wrapped)]
            expected_index = passed.index(False) if False in passed else -1
            assert compiled.first_failing(wrapped) == expected_index
            assert compiled.matches(wrapped) is all(passed)


def test_numeric_strings_coerce_the_same_on_the_inline_path() -> None:
    compiled = compile_raw([{"field": "n", "op": "gt", "value": 5}])
    for text, passed in [("6", True), ("5", False), ("٦", True), (" 7 ", True), ("1_000", False), ("9" * 65, False)]:
        [result] = compiled.evaluate({"n": text})
        assert (result.passed, compiled.matches({"n": text})) == (passed, passed), text


def test_conditions_sharing_a_prefix_after_the_slow_path() -> None:
    """A later condition reuses an earlier one's prefix node, also when that one went through a list."""
    compiled = compile_raw(
        [
            {"field": "l.0.x", "op": "equals", "value": 1},
            {"field": "l.0.y", "op": "equals", "value": 2},
            {"field": "m.a", "op": "equals", "value": "s"},
            {"field": "m.b", "op": "gte", "value": 2},
        ]
    )
    for lst in ([{"x": 1, "y": 2}], {"0": {"x": 1, "y": 2}}):
        event = {"l": lst, "m": {"a": "s", "b": "3"}}
        assert (compiled.first_failing(event), compiled.matches(event)) == (-1, True)
        assert compiled.first_failing({**event, "m": {"a": "s"}}) == 3  # missing under a kept node
        assert compiled.first_failing({**event, "m": {"a": "s", "b": None}}) == 3
    assert compiled.first_failing({"l": [{"x": 1}], "m": {"a": "s", "b": 3}}) == 1
    assert compiled.first_failing({"l": [{"x": 1, "y": 2}], "m": ["s", 3]}) == 2


# Paths of one length: none is a prefix of another, so an event can satisfy them all.
shared_fields = st.lists(st.sampled_from(["a", "b", "0"]), min_size=3, max_size=3)


@st.composite
def sharing_conditions(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to eight conditions over a few short paths: many of them share prefixes."""
    out = []
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(OPERATORS))
        if op in ("gt", "gte", "lt", "lte"):
            value: Any = draw(st.integers(-3, 3))
        elif op == "starts_with":
            value = draw(st.sampled_from(["x", "1"]))
        else:
            value = draw(st.sampled_from([1, 2, "x", "1", True, False]))
        out.append({"field": ".".join(draw(shared_fields)), "op": op, "value": value})
    return out


# Few leaf values (so conditions often hold and the next one runs) and lists as often as
# objects (so digit segments take the slow path before a later condition reuses the prefix).
small_json = st.recursive(
    st.none() | st.sampled_from([1, 2, "x", "1", " 2", True]),
    lambda children: (
        st.lists(children, min_size=1, max_size=2)
        | st.dictionaries(st.sampled_from(["a", "b", "0"]), children, min_size=2)
    ),
    max_leaves=25,
)


def _holding(c: dict[str, Any]) -> Any:
    """A value that satisfies condition ``c``."""
    op, value = c["op"], c["value"]
    if op in ("gt", "lt"):
        return value + (1 if op == "gt" else -1)
    if op == "not_equals":
        return not value if isinstance(value, bool) else ("y" if isinstance(value, str) else value + 1)
    if op == "starts_with":
        return value + "z"
    return [value] if op == "contains" else value


def _satisfying(conditions: list[dict[str, Any]], draw: st.DrawFn) -> Any:
    """An event where most conditions hold (so later ones run), some objects under "0" made lists."""
    root: dict[str, Any] = {}
    for c in conditions:
        *parents, last = c["field"].split(".")
        node = root
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node
            if not isinstance(node, dict):
                break
        else:
            node[last] = _holding(c) if draw(st.integers(0, 9)) else draw(st.sampled_from(["x", 1, None]))

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        return [node["0"]] if list(node) == ["0"] and draw(st.booleans()) else node

    return listify(root)


@settings(max_examples=400, deadline=None)
@given(conditions=sharing_conditions(), data=st.data())
def test_shared_prefixes_decide_as_the_explanations_do(conditions: list[dict[str, Any]], data: st.DataObject) -> None:
    compiled = compile_raw(conditions)
    for event in (data.draw(small_json), _satisfying(conditions, data.draw)):
        passed = [r.passed for r in compiled.evaluate(event)]
        assert compiled.first_failing(event) == (passed.index(False) if False in passed else -1)
        assert compiled.matches(event) is all(passed)


@settings(max_examples=300, deadline=None)
@given(event=json_values, keys=fields)
def test_the_explanations_lookup_is_the_template_languages(event: Any, keys: list[str]) -> None:
    for data in (event, {"a": event}, {"metrics": {"a": event, "0": [event]}}):
        assert _lookup(data, tuple(keys)) is lookup(data, keys)
