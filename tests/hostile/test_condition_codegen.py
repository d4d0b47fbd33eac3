"""The generated condition functions are never built from what a user wrote (issue 25, DSL).

Playbook conditions become Python source (``condition_engine.dsl_codegen``). These tests attack
that step: field names and values written to break out of a string or a subscript, templates'
own placeholders, control characters, deep events, huge lists. They go through
``compile_conditions`` directly, past the validation that would reject most of them, so what
they prove is the generator's own property: the source is a function of the playbook's shape
(operators, value types, path lengths) alone, and user text reaches the function only as data.
"""

from __future__ import annotations

import ast
import sys
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condition_engine import dsl_codegen
from condition_engine.dsl import (
    MAX_CONDITIONS,
    MAX_PATH_SEGMENTS,
    OPERATORS,
    Condition,
    ConditionError,
    compile_conditions,
    compile_raw,
)

INJECTIONS = [
    'a"]; __import__("os").system("touch /tmp/pwned"); x = event["',
    "a']) or __import__('os').system('id') or (['",
    "k0_0",
    "e0",
    "{e0}",
    "%s%d",
    "\n    return -1\n",
    "\\",
    "\x00",
    "__class__",
    "__builtins__",
    ")" * 200,
    "é" * 300,
]

# Every name a generated function may use: its parameters, its locals, the builtins it is given.
_ALLOWED_NAME = __import__("re").compile(
    r"^(factory|first_failure|event|v|k|lookup|MISSING|as_number|[pec]\d+|[kq]\d+_\d+"
    r"|int|float|str|bool|list|len|type|isdecimal|startswith"
    r"|KeyError|TypeError|IndexError|Exception)$"
)


def _shape(conditions: list[Condition]) -> dsl_codegen.Shape:
    """The shape the generator uses: operators, value kinds, path lengths and shared prefixes."""
    return dsl_codegen.shape_of([(c.op, tuple(c.field.split(".")), c.value, lambda _v: None) for c in conditions])


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out += _code_objects(const)
    return out


def _generated(compiled: Any) -> list[Any]:
    """The generated functions behind a playbook (a large one: one per condition, its ``parts``)."""
    out = []
    for fn in (compiled.matches, compiled.first_failing):
        out += list(getattr(fn, "parts", [fn]))
    return out


def _assert_built_from_templates(compiled: Any) -> None:
    """Only ints, None and booleans as constants; only the generator's own names."""
    for fn in _generated(compiled):
        for code in _code_objects(fn.__code__):
            for const in code.co_consts:
                assert const is None or isinstance(const, bool | int | types.CodeType), const
            for name in (*code.co_names, *code.co_varnames, *code.co_freevars, *code.co_cellvars):
                assert _ALLOWED_NAME.match(name), name


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_hostile_field_names_and_values_are_data_not_source(hostile: str) -> None:
    hostile = hostile.replace(".", ",")  # one path segment each (dotted paths: the property test below)
    conditions = [
        Condition(f"{hostile}.{hostile}", "equals", hostile),
        Condition(hostile, "starts_with", hostile),
        Condition(hostile, "contains", hostile),
        Condition(f"x.{hostile}", "not_equals", "y"),
    ]
    compiled = compile_conditions(conditions)
    benign = [Condition("a.b", "equals", "s"), Condition("a", "starts_with", "s"), Condition("a", "contains", "s")]
    benign.append(Condition("x.y", "not_equals", "y"))
    assert _shape(conditions) == _shape(benign)
    # The same source as the benign playbook of the same shape: nothing of the attacker's in it.
    source = dsl_codegen.source_for(_shape(conditions), "index")
    assert source == dsl_codegen.source_for(_shape(benign), "index")
    if hostile not in ("k0_0", "e0"):  # words the templates use themselves
        assert hostile not in source
    _assert_built_from_templates(compiled)
    # ... and the hostile text works as what it is: a key and a value, compared literally.
    event = {hostile: {hostile: hostile}, "x": {hostile: "z"}}
    assert compiled.first_failing(event) == 1  # event[hostile] is a dict, not a string
    flat = {hostile: hostile + "!", "x": {hostile: "z"}}
    assert compiled.first_failing(flat) == 0  # flat[hostile] is a string, no [hostile] under it
    nested_ok = compile_conditions(conditions[:1] + conditions[3:])
    assert nested_ok.matches(event) is True


def test_validation_still_rejects_injections_before_they_reach_the_generator() -> None:
    for hostile in INJECTIONS:
        if hostile in ("k0_0", "e0", "__class__", "__builtins__"):
            continue  # valid key names: data, proven above
        with pytest.raises(ConditionError):
            compile_raw([{"field": hostile, "op": "equals", "value": "x"}])


def test_every_shape_generates_only_template_code() -> None:
    """Every operator, value kind and path length: the source parses to template constructs only."""
    kinds = {"number": 1, "bool": True, "str": "s"}
    for op in OPERATORS:
        for kind, value in kinds.items():
            for segments in (1, 2, MAX_PATH_SEGMENTS):
                field = ".".join(["a"] * segments)
                try:
                    compiled = compile_conditions([Condition(field, op, value)])
                except ValueError:
                    assert op in ("gt", "gte", "lt", "lte", "starts_with"), (op, kind)  # rejected shapes
                    continue
                _assert_built_from_templates(compiled)
                for verdict in ("index", "bool"):
                    tree = ast.parse(dsl_codegen.source_for(_shape([Condition(field, op, value)]), verdict))
                    for node in ast.walk(tree):
                        assert not isinstance(node, ast.Constant) or not isinstance(node.value, str | bytes)
                        assert not isinstance(node, ast.Import | ast.ImportFrom | ast.Lambda | ast.Global)


def test_operators_outside_the_table_never_become_source() -> None:
    with pytest.raises((KeyError, ValueError)):
        dsl_codegen.source_for((('equals") or __import__("os") or ("', "str", 1),), "index")
    with pytest.raises(ValueError):
        dsl_codegen.source_for((("equals", "str", 1),), "bool); import os; (")
    with pytest.raises(TypeError):
        compile_conditions([Condition("a", "equals", ["a", "list"])])  # type: ignore[arg-type]


hostile_text = st.text(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    segments=st.lists(st.lists(hostile_text, min_size=1, max_size=4), min_size=1, max_size=5),
    values=st.lists(hostile_text | st.integers(-(2**63), 2**63 - 1) | st.booleans(), min_size=5, max_size=5),
    event=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
        max_leaves=20,
    ),
)
def test_any_text_compiles_to_template_code_and_never_raises(
    segments: list[list[str]], values: list[Any], event: Any
) -> None:
    conditions = [
        Condition(".".join(keys), "contains" if isinstance(value, str) else "equals", value)
        for keys, value in zip(segments, values, strict=False)
    ]
    compiled = compile_conditions(conditions)
    _assert_built_from_templates(compiled)
    assert compiled.first_failing(event) in range(-1, len(conditions))
    assert compiled.matches(event) in (True, False)
    assert compiled.matches({"wrap": event}) in (True, False)


def test_compiling_is_bounded_whatever_the_playbook() -> None:
    """Past the fusing bounds no large source is compiled: one small cached function per condition."""
    big = [Condition(".".join(["a"] * MAX_PATH_SEGMENTS), "equals", f"v{i}") for i in range(MAX_CONDITIONS)]
    with pytest.raises(ValueError, match="fusing bounds"):
        dsl_codegen.source_for(_shape(big), "index")
    compiled = compile_conditions(big)
    assert len(compiled.first_failing.parts) == MAX_CONDITIONS  # type: ignore[attr-defined]
    sources = {dsl_codegen.source_for(_shape([c]), "bool") for c in big}
    assert len(sources) == 1  # fifty conditions, one shape, one compilation
    _assert_built_from_templates(compiled)
    small = [Condition("a.b", "equals", "x")] * dsl_codegen.FUSE_MAX_CONDITIONS
    assert not hasattr(compile_conditions(small).first_failing, "parts")  # fused


def test_deep_events_huge_lists_and_many_conditions() -> None:
    deep: Any = "leaf"
    for _ in range(sys.getrecursionlimit() * 2):
        deep = {"a": deep}
    huge = list(range(1_000_000))
    conditions = [Condition(".".join(["a"] * MAX_PATH_SEGMENTS), "equals", "leaf")] * MAX_CONDITIONS
    compiled = compile_conditions(conditions)
    assert compiled.matches(deep) is False  # 16 levels down is another dict, not "leaf"
    assert compiled.first_failing(deep) == 0
    in_huge = compile_conditions([Condition("n", "contains", 999_999), Condition("n.999999", "gte", 999_999)])
    assert in_huge.matches({"n": huge}) is True
    assert compile_conditions([Condition("n.99999999999999999999999", "equals", 1)]).matches({"n": huge}) is False
    # Far more conditions than validation allows: still one flat function, compiled and correct.
    many = compile_conditions([Condition(f"k{i}", "equals", i) for i in range(2_000)])
    assert many.matches({f"k{i}": i for i in range(2_000)}) is True
    assert many.first_failing({f"k{i}": i for i in range(1_999)}) == 1_999


class _Hostile(dict):  # type: ignore[type-arg]
    """Not JSON, but what a bug elsewhere might hand over: every access raises."""

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("boom")

    def get(self, key: Any, default: Any = None) -> Any:
        raise RuntimeError("boom")


class _BadEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = object.__hash__


def test_objects_that_raise_fail_their_condition_without_raising() -> None:
    compiled = compile_conditions([Condition("ok", "equals", 1), Condition("a.b", "equals", "x")])
    assert compiled.first_failing({"ok": 1, "a": _Hostile()}) == 1
    assert compiled.first_failure({"ok": 1, "a": _Hostile()}).index == 1  # type: ignore[union-attr]
    contains = compile_conditions([Condition("l", "contains", "x"), Condition("l", "contains", 2)])
    assert contains.first_failing({"l": [_BadEq()]}) == 0


def test_shared_prefixes_enter_source_as_integers_only() -> None:
    """Which conditions share a prefix comes from keys being equal; only the counts reach source."""
    for hostile in INJECTIONS:
        hostile = hostile.replace(".", ",")
        conditions = [Condition(f"{hostile}.{hostile}.a", "equals", "s"), Condition(f"{hostile}.{hostile}.b", "gt", 1)]
        benign = [Condition("m.n.a", "equals", "s"), Condition("m.n.b", "gt", 1)]
        assert _shape(conditions) == _shape(benign)
        assert dsl_codegen.source_for(_shape(conditions), "index") == dsl_codegen.source_for(_shape(benign), "index")
        compiled = compile_conditions(conditions)
        _assert_built_from_templates(compiled)
        assert compiled.first_failing({hostile: {hostile: {"a": "s", "b": "2"}}}) == -1
    # A forged sharing (a prefix nobody keeps, text for a depth, depths past the path) is refused.
    forged: list[Any] = [
        (("equals", "str", 2, None, ()), ("equals", "str", 2, (0, 1), ())),
        (("equals", "str", 2, None, ("1",)), ("equals", "str", 2, (0, 1), ())),
        (("equals", "str", 2, None, ("1); import os; (",)),),
        (("equals", "str", 2, None, (2,)),),
        (("equals", "str", 3, None, (2, 1)),),
        (("equals", "str", 2, None, (1,)), ("equals", "str", 1, (0, 1), ())),
        (("equals", "str", 2, ("0", 1), ()),),
    ]
    for shape in forged:
        with pytest.raises(ValueError):
            dsl_codegen.source_for(shape, "index")


def test_sharing_keeps_the_fused_source_linear_in_the_bounds() -> None:
    """The most sharing a fusable playbook can ask for adds at most two lines per path segment."""
    segments = dsl_codegen.FUSE_MAX_SEGMENTS
    first = ".".join(["a"] * (segments // 2))
    worst = [Condition(first, "equals", "s"), Condition(f"{first[:-2]}.b", "equals", "s")]
    shape = _shape(worst)
    assert dsl_codegen.fusable(shape) and len(shape[0][4]) == segments // 2 - 1  # fused, every node kept
    plain = tuple(c[:3] for c in shape)
    shared, alone = (dsl_codegen.source_for(s, "index").count("\n") for s in (shape, plain))
    assert shared <= alone + 2 * segments
