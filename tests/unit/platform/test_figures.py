"""Bench figures as one JSON object at $BENCH_JSON; every bench writes them (issue 25)."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

from playbooks_platform.figures import ENV, Figures

BENCH = Path(__file__).resolve().parents[3] / "bench"


def test_figures_are_written_to_bench_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = Figures()
    assert figures.add("dsl.compiled_per_s", 4_200_000.5) == 4_200_000.5
    figures.update({"dsl.naive_per_s": 900_000, "dsl.ratio": 4.67})
    target = tmp_path / "out" / "figures.json"
    monkeypatch.setenv(ENV, str(target))
    assert figures.write() == target
    assert json.loads(target.read_text()) == {
        "dsl.compiled_per_s": 4_200_000.5,
        "dsl.naive_per_s": 900_000,
        "dsl.ratio": 4.67,
    }
    assert [p.name for p in target.parent.iterdir()] == ["figures.json"]  # no temporary file left


def test_nothing_is_written_without_bench_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    figures = Figures()
    figures.add("x", 1)
    assert figures.write() is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("", 1, ValueError),
        ("x", math.nan, ValueError),
        ("x", math.inf, ValueError),
        ("x", True, TypeError),
        ("x", "1", TypeError),
    ],
)
def test_a_figure_is_a_named_finite_number(name: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Figures().add(name, value)  # type: ignore[arg-type]


def test_a_name_is_recorded_once() -> None:
    figures = Figures()
    figures.add("x", 1)
    with pytest.raises(ValueError, match="twice"):
        figures.add("x", 2)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if p.name != "run.py"))
def test_every_bench_writes_its_figures(script: str) -> None:
    """Each bench script builds Figures and calls write() (not bench/fidelity/, nor the runner bench/run.py)."""
    tree = ast.parse((BENCH / script).read_text())
    imports = {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "playbooks_platform.figures"
        for a in n.names
    }
    writes = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "write"
    ]
    assert "Figures" in imports, f"bench/{script} does not use playbooks_platform.figures"
    assert writes, f"bench/{script} never writes its figures"
