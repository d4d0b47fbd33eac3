"""The golden set: every TSG compiles to its reviewed runbook, valid, with nothing invented."""

from __future__ import annotations

import pytest

from compiler import goldens
from compiler.validate import errors

CASES = goldens.cases()


def test_golden_set_is_big_enough_and_has_ground_truth() -> None:
    assert len(CASES) >= 10
    assert set(goldens.expected_commands()) == set(CASES)
    for case in CASES:
        assert goldens.expected_path(case).exists(), f"{case} has no reviewed runbook"


@pytest.mark.parametrize("case", CASES)
def test_golden_runbook_matches_the_reviewed_one(case: str) -> None:
    result = goldens.compile_case(case)
    delta = goldens.diff(case, result)
    assert not delta, f"compiled runbook drifted from the reviewed one:\n{delta}"
    assert not errors(result.problems), [str(p) for p in result.problems]


def test_golden_measures() -> None:
    results = {c: goldens.compile_case(c) for c in CASES}
    m = goldens.measure(results)
    assert m.invented == 0
    assert m.valid == m.tsgs
    assert m.recall == 1.0, "a source command of the golden set ended up in no step"


def test_command_found_is_not_trivially_true() -> None:
    runbook = goldens.compile_case("k8s-crashloop").runbook
    assert goldens.command_found("kubectl get pods -n {{ .ns }} -o wide", runbook)
    assert not goldens.command_found("kubectl get pods -n {{ .ns }} -o yaml", runbook)
    assert not goldens.command_found("kubectl delete pod {{ .pod_name }}", runbook)
