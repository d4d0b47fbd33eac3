"""Incremental snapshots (decision 0030): a step's snapshot is a delta appended to the journal; the
state rebuilt from it is the state a whole snapshot would have held, at every step; a step's delta
does not grow with the step count; a local CLI run makes no network round trip."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from runbook_builders import cli, manual, runbook

from playbooks_contracts.runbook import parse_runbook
from runbook_runtime import store
from runbook_runtime.engine import Engine, new_state
from runbook_runtime.session import open_run, resume_run
from runbook_runtime.store import RunFolder


def _start(doc: dict[str, Any], tmp_path: Path, **vars_: str) -> tuple[Engine, RunFolder]:
    rb = parse_runbook(doc)
    state = new_state(rb, run_id="r1", runbook_path="rb.yaml", digest="d", mode="real", actor="t", vars_=vars_, env={})
    folder = RunFolder(tmp_path, "r1").create()
    return Engine(rb, state, folder, sleep=lambda s: None), folder


def _whole(engine: Engine) -> dict[str, Any]:
    """What a whole snapshot of the engine's state holds (redacted, no history)."""
    dumped: dict[str, Any] = engine.redact.model(engine.state).model_dump(mode="json", exclude={"history"})
    return dumped


def test_every_delta_rebuilds_the_state_a_whole_snapshot_holds(tmp_path: Path) -> None:
    doc = runbook(
        cli("a", "echo", "token={{ .key }} one", capture={"first": "stdout", "code": "exit_code"}),
        cli("b", "printf", "password=hunter2", capture={"pw": "stdout"}),
        cli("c", "echo", "again", capture={"first": "stdout"}),  # overwrites a capture
        cli("d", "echo", "made", produces={"name": "thing", "signature": "thing:{{ .first }}"}),
        manual("m", approvals=None),
        cli("e", "echo", "after"),
        redact=[{"pattern": "password=\\S+", "replace": "password=<redacted>"}],
    )
    doc["meta"]["vars"]["key"] = {"secret": True}
    engine, folder = _start(doc, tmp_path, key="s3cr3t")
    expected: dict[str, dict[str, Any]] = {}
    while engine.state.status == "running":
        if engine.next() is None:
            break
        expected[f"step-{len(engine.state.history):04d}.json"] = _whole(engine)
    assert engine.state.status == "waiting"
    engine.set_evidence("link", "https://dash/x")
    engine.set_evidence("crit", ["error rate < 1%"])
    engine.attach("shot", "shot.png", b"png")
    engine.state.breakpoints.append("e")
    engine.next()
    expected[f"step-{len(engine.state.history):04d}.json"] = _whole(engine)
    engine.next()
    expected[f"step-{len(engine.state.history):04d}.json"] = _whole(engine)
    assert engine.state.status == "passed"

    journal = [json.loads(line) for line in folder.journal_path.read_text().splitlines()]
    assert sum("ops" in r for r in journal) >= 4  # the steps between the first and the stops are deltas
    for name, whole in expected.items():
        rebuilt = folder.read_snapshot(name)
        assert rebuilt.pop("history_count") == int(name[5:9])
        assert rebuilt == whole, name
    text = folder.journal_path.read_text()
    assert "s3cr3t" not in text and "hunter2" not in text and "password=<redacted>" in text
    # the whole state read back (resume) is the engine's, history included
    back = RunFolder(tmp_path, "r1").latest_state()
    assert back.model_dump(mode="json") == engine.redact.model(engine.state).model_dump(mode="json")


def test_a_step_delta_does_not_grow_with_the_step_count(tmp_path: Path) -> None:
    steps = [cli(f"s{i}", "echo", f"step {i:04d}", capture={f"c{i}": "stdout"}) for i in range(300)]
    engine, folder = _start(runbook(*steps), tmp_path)
    engine.continue_()
    assert engine.state.status == "passed"
    deltas = [len(line) for line in folder.journal_path.read_text().splitlines() if '"ops"' in line]
    assert len(deltas) == 298  # the first snapshot and the last (the run passed) are whole
    assert max(deltas) - min(deltas) <= 12  # only the digits of numbers (step, capture, place) differ
    assert len(list(folder.snapshots.glob("*.json"))) == 2


def test_deltas_give_way_to_a_whole_snapshot_once_they_outweigh_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "JOURNAL_SPAN_BYTES", 2_000)
    steps = [cli(f"s{i}", "echo", "x" * 200, capture={f"c{i}": "stdout"}) for i in range(60)]
    engine, folder = _start(runbook(*steps), tmp_path)
    engine.continue_()
    wholes = sorted(folder.snapshots.glob("*.json"))
    # whole again each time the deltas since the last whole one outweigh it: geometric, not per step
    assert 3 <= len(wholes) <= 12
    assert RunFolder(tmp_path, "r1").latest_state().captures == engine.state.captures


def test_a_resume_after_a_power_cut_starts_from_the_last_snapshot_the_trace_holds(tmp_path: Path) -> None:
    """A power cut (no fsync per record) can keep a journal line whose step result the trace lost:
    resume takes the last delta the trace backs, and that step runs again."""
    rb = tmp_path / "rb.yaml"
    rb.write_text(
        yaml.safe_dump(runbook(*(cli(f"s{i}", "echo", str(i), capture={f"c{i}": "stdout"}) for i in range(5))))
    )
    engine, folder, _ = open_run(rb, root=tmp_path, mode="real", key="cut")
    for _ in range(3):
        engine.next()
    # the trace loses its last result line (and what followed it); the journal keeps its delta
    lines = folder.trace_path.read_text().splitlines()
    last = max(i for i, line in enumerate(lines) if '"step_result"' in line)
    folder.trace_path.write_text("".join(f"{line}\n" for line in lines[:last]))
    engine, folder = resume_run(engine.state.run_id, root=tmp_path)
    assert [r.step_id for r in engine.state.history] == ["s0", "s1"]
    assert set(engine.state.captures) == {"c0", "c1"} and engine.current().id == "s2"
    engine.continue_()
    assert engine.state.status == "passed"
    assert [r.step_id for r in RunFolder(tmp_path, engine.state.run_id).latest_state().history] == [
        f"s{i}" for i in range(5)
    ]


def test_a_local_cli_run_makes_no_network_round_trip(tmp_path: Path) -> None:
    """CLI mode keeps everything in the run folder: no connection (to a database or anything else)
    while steps run, are traced and snapshotted."""
    rb = tmp_path / "rb.yaml"
    rb.write_text(
        yaml.safe_dump(runbook(*(cli(f"s{i}", "echo", str(i), capture={f"c{i}": "stdout"}) for i in range(20))))
    )
    engine, folder, _ = open_run(rb, root=tmp_path, mode="real", key="net")
    connects: list[Any] = []
    watching = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if watching[0] and event in ("socket.connect", "socket.getaddrinfo"):
            connects.append(args)

    sys.addaudithook(hook)  # an audit hook cannot be removed: it stops listening below
    try:
        engine.continue_()
        folder.close()
    finally:
        watching[0] = False
    assert engine.state.status == "passed"
    assert connects == []
    assert socket.socket  # the module is there: the hook watched real calls, none came


def test_a_replay_run_keeps_its_scenario_position_in_deltas(tmp_path: Path) -> None:
    """The replay position (a call count per scenario step) changes in place each step: a delta holds
    the counts that moved, and the state rebuilt at every step is the engine's."""
    steps = [cli(f"s{i}", "echo", f"step-{i}", capture={f"c{i}": "stdout"}) for i in range(40)]
    rb = tmp_path / "rb.yaml"
    rb.write_text(yaml.safe_dump(runbook(*steps)))
    sc = tmp_path / "sc.yaml"
    responses = [{"match": {"argv": ["echo", f"step-{i}"]}, "respond": {"stdout": f"out {i}\n"}} for i in range(40)]
    sc.write_text(yaml.safe_dump({"meta": {"name": "replayed"}, "steps": responses}))
    engine, folder, _ = open_run(rb, root=tmp_path, mode="replay", scenario_path=sc, key="rp")
    expected = {}
    while engine.state.status == "running":
        engine.next()
        expected[f"step-{len(engine.state.history):04d}.json"] = _whole(engine)
    assert engine.state.status == "passed"
    for name, whole in expected.items():
        rebuilt = folder.read_snapshot(name)
        rebuilt.pop("history_count")
        assert rebuilt == whole, name
    deltas = [json.loads(line) for line in folder.journal_path.read_text().splitlines() if '"ops"' in line]
    assert deltas and all(len(json.dumps(d)) < 400 for d in deltas)  # never the 40 counts
