"""needs, produces/on_duplicate and checkpoints in the engine (local mode: real echo/printf, no service)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from runbook_builders import cli, runbook

from playbooks_contracts.policy import ApprovalFloor
from playbooks_contracts.runbook import parse_runbook, validate_runbook
from runbook_runtime.artifacts import FileRegistry, MemoryRegistry
from runbook_runtime.debugger import Debugger
from runbook_runtime.engine import Engine, EngineConflict, EngineRefused, NullRecorder, new_state, verify
from runbook_runtime.scenario import parse_scenario
from runbook_runtime.session import open_run
from runbook_runtime.state import Approval


def engine_for(doc: dict[str, Any], *, registry=None, run_id: str = "r1", floor=None) -> Engine:
    rb = parse_runbook(doc)
    state = new_state(rb, run_id=run_id, runbook_path="x", digest="d", mode="real", actor="req", env={})
    return Engine(rb, state, NullRecorder(), artifacts=registry, approval_floor=floor)


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate_runbook(doc)]


# -- ordering and validation ----------------------------------------------------------------------


def test_steps_run_in_stable_topological_order() -> None:
    doc = runbook(
        cli("c", "echo", "c", needs=["b"]),
        cli("a", "echo", "a"),
        cli("b", "echo", "b", needs=["a"]),
        cli("d", "echo", "d"),
    )
    engine = engine_for(doc)
    # a and d are ready first, a declared before d; b becomes ready after a and was declared before d
    assert [s.id for s in engine.steps] == ["a", "b", "c", "d"]
    assert [r.step_id for r in engine.continue_()] == ["a", "b", "c", "d"]
    assert engine.state.status == "passed"


def test_without_needs_the_order_is_the_declaration_order() -> None:
    doc = runbook(cli("z", "echo", "z"), cli("a", "echo", "a"))
    assert [s.id for s in parse_runbook(doc).leaf_steps()] == ["z", "a"]


def test_cycles_unknown_ids_and_self_needs_are_refused_naming_the_steps() -> None:
    doc = runbook(cli("a", "echo", needs=["c"]), cli("b", "echo", needs=["a"]), cli("c", "echo", needs=["b"]))
    assert problems(doc) == ["steps: needs form a cycle: a -> c -> b -> a"]
    doc = runbook(cli("a", "echo", needs=["a"]), cli("b", "echo", needs=["nope"]))
    assert problems(doc) == [
        "steps[0].needs[0]: step 'a' needs itself",
        "steps[1].needs[0]: step 'b' needs 'nope', which is not a step of this runbook",
    ]


def test_runbook_validate_prints_the_cycle(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from runbook_runtime.cli import app

    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(runbook(cli("a", "echo", needs=["b"]), cli("b", "echo", needs=["a"]))))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "needs form a cycle: a -> b -> a" in result.output


def test_a_template_may_only_read_captures_of_steps_it_needs() -> None:
    doc = runbook(
        cli("a", "echo", "x", capture={"out": "stdout"}),
        cli("other", "echo", "y", needs=["a"]),
        cli("b", "echo", "{{ .out }}", needs=["other"]),  # through other: fine
        cli("lone", "echo", "{{ .out }}"),
    )
    assert problems(doc) == [
        "steps[3].with.argv[1]: {{ .out }} is a capture of step 'a', which step 'lone' does not need "
        "(add it to needs: a failed step skips only its dependents)"
    ]


# -- failures skip dependents only ----------------------------------------------------------------


def test_a_failure_skips_its_dependents_and_independent_steps_still_run() -> None:
    doc = runbook(
        cli("bad", "printf", "nope", assertions=[{"contains": "yes"}]),
        cli("child", "echo", "c", needs=["bad"]),
        cli("grandchild", "echo", "g", needs=["child"]),
        cli("free", "echo", "f"),
    )
    engine = engine_for(doc)
    results = {r.step_id: r for r in engine.continue_()}
    assert results["bad"].status == "failed"
    assert (results["child"].status, results["child"].error) == ("skipped", "needs bad, which failed")
    assert results["grandchild"].status == "skipped" and "needs child, which was skipped" in results["grandchild"].error
    assert results["free"].status == "passed"
    assert engine.state.status == "failed" and engine.done
    assert "child: skipped: needs bad, which failed" in verify(engine.runbook, engine.state)


def test_without_needs_a_failure_still_stops_the_run() -> None:
    doc = runbook(cli("bad", "printf", "nope", assertions=[{"contains": "yes"}]), cli("after", "echo", "a"))
    engine = engine_for(doc)
    assert [r.step_id for r in engine.continue_()] == ["bad"]
    assert engine.state.status == "failed" and engine.current().id == "bad"


def test_a_failed_optional_step_does_not_fail_a_graph_run() -> None:
    doc = runbook(
        cli("try", "printf", "nope", assertions=[{"contains": "yes"}], required=False),
        cli("next", "echo", "n", needs=["try"], required=False),
        cli("main", "echo", "m"),
    )
    engine = engine_for(doc)
    assert [r.status for r in engine.continue_()] == ["failed", "skipped", "passed"]
    assert engine.state.status == "passed"


# -- artifacts --------------------------------------------------------------------------------------


def producing(**extra: Any) -> dict[str, Any]:
    return runbook(
        cli("find", "echo", "db-7", capture={"instance": "stdout"}),
        cli(
            "snap",
            "echo",
            "snapshot {{ .instance }}",
            needs=["find"],
            produces={"name": "snapshot", "signature": "rds-snapshot:{{ .instance }}:{{ .greeting }}"},
            **extra,
        ),
        cli(
            "page",
            "echo",
            "page",
            needs=["snap"],
            produces={"name": "page", "signature": "page:{{ .instance }}"},
            **extra,
        ),
    )


def test_artifacts_carry_resolved_signatures_and_links() -> None:
    registry = MemoryRegistry()
    engine = engine_for(producing(), registry=registry)
    results = engine.continue_()
    assert engine.state.status == "passed"
    snap, page = engine.state.artifacts
    assert (snap.signature, snap.status, snap.run_id, snap.step_id) == (
        "rds-snapshot:db-7:hello",
        "created",
        "r1",
        "snap",
    )
    assert page.links == ["rds-snapshot:db-7:hello"] and snap.links == []
    assert results[1].artifact == snap
    assert set(registry.items) == {"rds-snapshot:db-7:hello", "page:db-7"}


def test_reuse_records_the_artifact_without_running_the_step_and_dependents_still_run() -> None:
    registry = MemoryRegistry()
    engine_for(producing(), registry=registry, run_id="first").continue_()
    seen: list[list[str]] = []
    engine = engine_for(producing(on_duplicate="reuse"), registry=registry, run_id="second")
    real = engine.runner
    engine.runner = lambda argv, stdin, timeout: (seen.append(argv), real(argv, stdin, timeout))[1]
    results = engine.continue_()
    assert engine.state.status == "passed"
    assert [r.reused for r in results] == [False, True, True]
    assert seen == [["echo", "db-7"]]  # only the step that produces nothing ran
    assert results[1].captures == {} and "did not run" in results[1].evidence["reused"]
    assert [(a.status, a.run_id) for a in engine.state.artifacts] == [("reused", "first"), ("reused", "first")]


def test_fail_stops_the_run_naming_the_signature_and_the_run_that_made_it() -> None:
    registry = MemoryRegistry()
    engine_for(producing(), registry=registry, run_id="first").continue_()
    engine = engine_for(producing(on_duplicate="fail"), registry=registry, run_id="second")
    results = engine.continue_()
    assert engine.state.status == "failed" and engine.current().id == "snap"
    failed = results[-1]
    assert failed.error_kind == "duplicate"
    assert "'rds-snapshot:db-7:hello'" in failed.error and "run first" in failed.error


def test_local_runs_share_the_registry_beside_the_run_folders(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(producing()))
    first, _, _ = open_run(path, root=tmp_path, mode="real")
    first.continue_()
    assert (tmp_path / "runs" / "artifacts.jsonl").exists()
    path.write_text(yaml.safe_dump(producing(on_duplicate="reuse")))
    second, _, _ = open_run(path, root=tmp_path, mode="real")
    assert [r.reused for r in second.continue_()] == [False, True, True]
    assert FileRegistry(tmp_path / "runs" / "artifacts.jsonl").find("page:db-7").run_id == first.state.run_id


def test_signature_validation_refuses_secrets_undefined_and_own_captures() -> None:
    doc = producing()
    doc["meta"]["vars"]["token"] = {"default": "t", "secret": True}
    doc["steps"][1]["produces"]["signature"] = "{{ .token }}/{{ .undefined }}/{{ .mine }}"
    doc["steps"][1]["capture"] = {"mine": "stdout"}
    found = problems(doc)
    assert any("{{ .token }} is a secret var" in p for p in found)
    assert any("{{ .undefined }} is neither a var" in p for p in found)
    assert any("{{ .mine }} is neither a var" in p for p in found)  # its own capture: not made yet


def test_on_duplicate_without_produces_and_captures_of_a_reusable_step_are_refused() -> None:
    doc = runbook(cli("a", "echo", on_duplicate="reuse"))
    assert problems(doc) == ["steps[0].on_duplicate: on_duplicate needs produces (the artifact it compares)"]
    doc = runbook(
        cli("a", "echo", capture={"o": "stdout"}, produces={"name": "x", "signature": "x"}, on_duplicate="reuse"),
        cli("b", "echo", "{{ .o }}", needs=["a"]),
    )
    assert "may be reused" in problems(doc)[0]


# -- checkpoints ------------------------------------------------------------------------------------


def checkpointed() -> dict[str, Any]:
    return runbook(
        cli("prepare", "echo", "ready"),
        {"id": "go", "type": "checkpoint", "title": "Confirm before publishing", "needs": ["prepare"]},
        cli("publish", "echo", "published", needs=["go"], checkpoint=True),
    )


def test_a_checkpoint_pauses_with_the_remaining_plan_and_needs_someone_else() -> None:
    engine = engine_for(checkpointed(), floor=ApprovalFloor(min=1, roles=["approver"]))
    assert [r.step_id for r in engine.continue_()] == ["prepare"]
    assert engine.state.status == "waiting" and engine.current().id == "go"
    assert [p["step_id"] for p in engine.state.checkpoint_plan] == ["go", "publish"]
    assert engine.state.checkpoint_plan[1]["argv"] == ["echo", "published"]
    assert engine.waiting_for() == ["checkpoint confirmation 0/1 (approver, not the requester)"]
    with pytest.raises(EngineRefused, match="four eyes"):
        engine.approve("req", ["approver"])
    with pytest.raises(EngineRefused, match="needs a confirmation by approver"):
        engine.approve("bob", ["viewer"])
    engine.approve("bob", ["approver"], via="token")  # the approvals path confirms a checkpoint
    with pytest.raises(EngineConflict):
        engine.confirm("carol", ["approver"])
    assert [r.step_id for r in engine.continue_()] == ["go"]
    # the cli step with checkpoint: true pauses before it runs
    assert engine.state.status == "waiting" and engine.current().id == "publish"
    engine.confirm("carol", ["approver"], via="token")
    result = engine.continue_()[0]
    assert result.status == "passed" and result.evidence["checkpoint"]["confirmed_by"][0]["name"] == "carol"
    assert engine.state.status == "passed"


def test_replayed_evidence_never_confirms_a_checkpoint() -> None:
    rb = parse_runbook(checkpointed())
    state = new_state(rb, run_id="r", runbook_path="x", digest="d", mode="replay", actor="req", env={})
    scenario = parse_scenario(
        {
            "meta": {"name": "s"},
            "steps": [
                {"match": {"argv": ["echo", "ready"]}, "respond": {"exit": 0, "stdout": "ready\n"}},
                {"match": {"argv": ["echo", "published"]}, "respond": {"exit": 0, "stdout": "ok\n"}},
            ],
        }
    )
    recorded = {"go": {"approvals": [{"name": "bob", "role": "approver", "roles": ["approver"]}]}}
    engine = Engine(rb, state, NullRecorder(), scenario=scenario, replay_evidence=recorded)
    engine.continue_()
    assert engine.state.status == "waiting" and engine.current().id == "go"
    with pytest.raises(EngineRefused, match="replayed evidence"):
        engine.confirm("bob", ["approver"], via="replay")
    # even a confirmation that reached the state marked as replayed does not count
    engine.state.confirmations["go"] = [Approval(name="bob", role="approver", roles=["approver"], via="replay")]
    assert engine.continue_() == [] and engine.current().id == "go"


def test_reject_at_a_checkpoint_ends_the_run() -> None:
    engine = engine_for(checkpointed())
    engine.continue_()
    engine.reject("bob", "not today")
    assert engine.state.status == "rejected"


def test_the_debugger_prints_artifacts_and_confirms() -> None:
    doc = producing()
    doc["steps"].append({"id": "ok", "type": "checkpoint", "title": "Confirm", "needs": ["page"]})
    out: list[str] = []
    dbg = Debugger(engine_for(doc, registry=MemoryRegistry()), out.append)
    dbg.handle("continue")
    dbg.handle("print artifacts")
    text = "\n".join(out)
    assert "rds-snapshot:db-7:hello: created by step snap" in text and "page:db-7" in text
    assert "checkpoint confirmation 0/1" in text
    dbg.handle("confirm --as bob")
    dbg.handle("continue")
    assert dbg.engine.state.status == "passed"


def test_a_5000_step_chain_and_a_dense_graph_validate_without_recursion() -> None:
    chain = runbook(*[cli(f"s{i}", "echo", needs=[f"s{i - 1}"] if i else []) for i in range(5000)])
    assert [s.id for s in parse_runbook(chain).leaf_steps()][:3] == ["s0", "s1", "s2"]
    chain["steps"][0]["needs"] = ["s4999"]
    (only,) = problems(chain)
    assert only.startswith("steps: needs form a cycle: s0 -> s4999") and "(5000 steps in all)" in only
    dense = runbook(*[cli(f"d{i}", "echo", needs=[f"d{j}" for j in range(max(0, i - 60), i)]) for i in range(400)])
    assert len(parse_runbook(dense).leaf_steps()) == 400


def test_runbook_exec_prints_the_bundle_and_a_checkpoint_with_the_rest_of_the_plan(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from runbook_runtime.cli import app

    doc = producing()
    doc["steps"].append({"id": "ok", "type": "checkpoint", "title": "Publish?", "needs": ["page"]})
    doc["steps"].append(cli("publish", "echo", "live", needs=["ok"]))
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["exec", str(path), "--root", str(tmp_path / ".runbook")])
    assert result.exit_code == 3, result.output  # waits at the checkpoint
    assert "artifact snapshot rds-snapshot:db-7:hello: created (step snap" in result.output
    assert "artifact page page:db-7: created" in result.output and "<- rds-snapshot:db-7:hello" in result.output
    assert "waits at ok: checkpoint confirmation 0/1" in result.output
    assert "then publish (cli): echo live [allowed]" in result.output and "confirm --as NAME" in result.output
