"""The engine and the `runbook` CLI: trace, snapshots, replay, dry-run, verify, idempotency, debugger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from runbook_builders import cli, manual, runbook

from playbooks_contracts.runbook import parse_runbook
from runbook_runtime.engine import Engine, new_state, verify
from runbook_runtime.scenario import Replayer, ReplayMismatch, Scenario
from runbook_runtime.session import open_run, resume_run
from runbook_runtime.store import RunFolder

RUNBOOK = [sys.executable, "-m", "runbook_runtime.cli"]


def write(tmp_path: Path, doc, name: str = "rb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNBOOK, *args, "--root", str(tmp_path / ".runbook")],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )


def test_three_cli_steps_and_a_manual_step_give_a_trace_and_snapshots(tmp_path: Path, three_cli_and_manual) -> None:
    engine, folder, _ = open_run(write(tmp_path, three_cli_and_manual), root=tmp_path, mode="real")
    results = engine.continue_()
    assert [r.status for r in results] == ["passed"] * 3
    assert engine.state.status == "waiting" and engine.current().id == "check"
    engine.set_evidence("link", "https://dash/x")
    engine.set_evidence("crit", ["error rate < 1%"])
    (tmp_path / "shot.png").write_bytes(b"\x89PNG")
    engine.attach("shot", "shot.png", (tmp_path / "shot.png").read_bytes())
    assert engine.next() is None  # still waits for the approval
    engine.approve("alice", "DRI")
    assert engine.next().actor == "human"
    assert engine.state.status == "passed" and verify(engine.runbook, engine.state) == []
    events = [json.loads(line)["event"] for line in folder.trace_path.read_text().splitlines()]
    assert events[0] == "run_started" and events[-2:] == ["run_finished", "snapshot"]
    assert {"evidence_submitted", "attachment", "approval", "step_result"} <= set(events)
    # a snapshot per step: whole files where the run starts and stops, deltas in the journal between
    assert folder.snapshot_names() == [f"step-000{i}.json" for i in range(5)]
    assert sorted(p.name for p in folder.snapshots.glob("*.json")) == ["step-0000.json", "step-0004.json"]
    snap = json.loads((folder.snapshots / "step-0004.json").read_text())
    assert snap["evidence"]["check"]["attachments"]["shot"]["size"] == 4


def test_recorded_run_replays_offline_with_reused_evidence(tmp_path: Path, three_cli_and_manual) -> None:
    rb = write(tmp_path, three_cli_and_manual)
    (tmp_path / "shot.png").write_bytes(b"img")
    script = "continue\nevidence set link http://x\nevidence set crit 'error rate < 1%'\n"
    script += "evidence attach shot shot.png\napprove --as alice\nnext\nquit\n"
    # record while driving the debugger's real prompt is not needed: record with exec, finish by debugger
    done = run_cli(tmp_path, "exec", str(rb), "--record", str(tmp_path / "sc.yaml"), "--key", "rec")
    assert done.returncode == 3, done.stdout + done.stderr  # waits at the manual step
    run_id = next((tmp_path / ".runbook" / "runs").iterdir()).name
    dbg = run_cli(tmp_path, "debug", "--run", run_id, stdin=script)
    assert "check: passed" in dbg.stdout, dbg.stdout + dbg.stderr
    evidence = yaml.safe_load((tmp_path / "sc.yaml").read_text())
    assert [s["match"]["argv"][0] for s in evidence["steps"]] == ["echo", "printf", "echo"]
    assert "hunter2" not in (tmp_path / "sc.yaml").read_text()
    # evidence beside the scenario, as the recording left it once the manual step completed
    engine, _ = resume_run(run_id, root=tmp_path / ".runbook")
    (tmp_path / "sc.evidence.yaml").write_text(
        yaml.safe_dump({"check": engine.state.evidence["check"].model_dump(mode="json")})
    )

    replay, _folder, _ = open_run(
        rb, root=tmp_path / "replay" / ".runbook", mode="replay", scenario_path=tmp_path / "sc.yaml"
    )
    replay.runner = _guard(replay.runner)
    results = replay.continue_()
    assert [r.status for r in results] == ["passed"] * 4, [r.error for r in results]
    assert replay.state.status == "passed"
    assert all(row["ok"] for row in replay.replayer.report())
    report = run_cli(tmp_path / "replay", "replay-verify", replay.state.run_id)
    assert report.returncode == 0, report.stdout + report.stderr
    assert report.stdout.count("ok step[") == 3 and "calls=1 (min 1, max 1)" in report.stdout


def _guard(runner):
    def run(argv, stdin, timeout):
        import subprocess as sp

        original = sp.run
        sp.run = lambda *a, **k: pytest.fail("replay executed a real command")  # type: ignore[assignment]
        try:
            return runner(argv, stdin, timeout)
        finally:
            sp.run = original

    return run


def test_replay_matching_groups_calls_and_a_clear_diff() -> None:
    scenario = Scenario.model_validate(
        {
            "meta": {"name": "s", "vars": {"ns": "prod"}},
            "steps": [
                {"match": {"argv": ["kubectl", "get", "pods", "-n", "{{ .ns }}"]}, "respond": {"stdout": "ok"}},
                {
                    "group": {
                        "mode": "unordered",
                        "steps": [
                            {"match": {"argv": ["az", "login"]}},
                            {
                                "match": {"argv": ["az", "show", '{{ .regex "id-[0-9]+" }}']},
                                "calls": {"min": 1, "max": 2},
                            },
                        ],
                    }
                },
                {"match": {"argv": ["kubectl", "logs", "{{ .any }}"]}, "respond": {"exit": 1, "stderr": "boom"}},
            ],
        }
    )
    r = Replayer(scenario)
    assert r.answer(["kubectl", "get", "pods", "-n", "prod"]).stdout == "ok"
    r.answer(["az", "show", "id-7"])
    r.answer(["az", "login"])
    r.answer(["az", "show", "id-8"])
    with pytest.raises(ReplayMismatch) as exc:
        r.answer(["kubectl", "delete", "pod", "x"])
    assert "- expected: ['kubectl', 'logs', '{{ .any }}']" in str(exc.value)
    assert "+ actual:   ['kubectl', 'delete', 'pod', 'x']" in str(exc.value)
    assert r.answer(["kubectl", "logs", "web-1"]).exit_code == 1
    assert [row["calls"] for row in r.report()] == [1, 1, 2, 1]
    with pytest.raises(ValueError, match="Extra inputs"):
        Scenario.model_validate({"meta": {"name": "s"}, "steps": [{"match": {"argv": ["a"]}, "reply": {}}]})


def test_unexpected_command_in_replay_fails_the_step_without_running_it(tmp_path: Path) -> None:
    doc = runbook(cli("a", "echo", "hi"))
    rb = parse_runbook(doc)
    scenario = Scenario.model_validate({"meta": {"name": "s"}, "steps": [{"match": {"argv": ["echo", "bye"]}}]})
    state = new_state(rb, run_id="r", runbook_path="x", digest="d", mode="replay", actor="t", env={})
    engine = Engine(rb, state, RunFolder(tmp_path, "r").create(), scenario=scenario)
    result = engine.next()
    assert result.status == "failed" and result.error_kind == "replay"
    assert "expected: ['echo', 'bye']" in result.error


def test_dry_run_plans_without_side_effects(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    doc = runbook(cli("t", "touch", str(marker)), cli("r", "rm", "-rf", str(tmp_path)), manual("m"), allowed=["touch"])
    rb = write(tmp_path, doc)
    before = sorted(tmp_path.rglob("*"))
    out = run_cli(tmp_path, "exec", str(rb), "--mode", "dry-run", "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(tmp_path.rglob("*")) == before and not marker.exists()
    touch, rm, pause = json.loads(out.stdout)
    assert touch["verdict"] == "allowed" and touch["argv"] == ["touch", str(marker)]
    assert rm["verdict"].startswith("refused: command 'rm' (") and "is not allowed by the runbook" in rm["verdict"]
    assert pause["pauses_for"] == ["text link", "checklist crit", "attachment shot", "1 approval(s) by DRI"]
    assert run_cli(tmp_path, "exec", str(rb), "--mode", "dry-run").returncode == 0  # the table for people


def test_verify_names_missing_evidence_disallowed_command_and_failed_assertion(tmp_path: Path) -> None:
    doc = runbook(
        cli("ok", "echo", "fine", assertions=[{"not_contains": "error"}]),
        cli("assert", "echo", "CrashLoopBackOff", assertions=[{"not_contains": "CrashLoopBackOff"}], required=True),
        cli("denied", "rm", "-rf", "/nonexistent-dir"),
        manual("m"),
    )
    rb = parse_runbook(doc)
    state = new_state(rb, run_id="r", runbook_path="x", digest="d", mode="real", actor="t", env={})
    engine = Engine(rb, state, RunFolder(tmp_path, "r").create())
    engine.next(), engine.next()
    engine.state.current_step_index += 1  # as a resumed run would, past the failed assertion
    engine.next()
    problems = verify(rb, engine.state)
    assert problems[0] == "assert: assertion failed: stdout contains 'CrashLoopBackOff'"
    assert problems[1].startswith("denied: disallowed command: command 'rm' (") and "not allowed" in problems[1]
    assert problems[2] == "m: missing evidence: link, crit: error rate < 1%, shot, approval 0/1 (DRI)"
    # and through the CLI, exiting non-zero
    path = write(tmp_path, doc)
    run_cli(tmp_path, "exec", str(path), "--key", "v")
    run_id = next((tmp_path / ".runbook" / "runs").iterdir()).name
    out = run_cli(tmp_path, "verify", run_id)
    assert out.returncode == 1 and "assert: assertion failed" in out.stdout


def test_the_same_key_resumes_the_same_run_and_never_reruns_a_completed_step(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    # tee -a appends its stdin: each execution adds a line (a shell with -c is a launcher, refused here)
    doc = runbook(
        cli("a", "tee", "-a", str(counter), **{"with": {"argv": ["tee", "-a", str(counter)], "stdin": "x\n"}}),
        manual("m"),
        allowed=["tee"],
    )
    path = write(tmp_path, doc)
    first = run_cli(tmp_path, "exec", str(path), "--key", "incident-42")
    again = run_cli(tmp_path, "exec", str(path), "--key", "incident-42")
    assert first.returncode == again.returncode == 3
    assert "resuming run" in again.stdout
    assert counter.read_text() == "x\n"
    assert len(list((tmp_path / ".runbook" / "runs").iterdir())) == 1


def test_debugger_through_its_prompt(tmp_path: Path, three_cli_and_manual) -> None:
    path = write(tmp_path, three_cli_and_manual)
    (tmp_path / "shot.png").write_bytes(b"png")
    script = "\n".join(
        [
            "help",
            "break again",
            "continue",
            "print captures",
            "next",
            "evidence check",
            "evidence set link http://dash",
            "evidence set crit 'error rate < 1%'",
            "evidence attach shot shot.png",
            "approve --as alice",
            "next",
            "history",
            "print vars",
            "snapshot",
            "dump",
            "bogus",
            "quit",
        ]
    )
    out = run_cli(tmp_path, "debug", str(path), "--mode", "real", stdin=script)
    text = out.stdout
    assert out.returncode == 0, text + out.stderr
    assert "evidence attach NAME PATH" in text  # help
    assert "say: passed\nsecret: passed\nat step 3/4: again" in text  # stopped at the breakpoint
    assert '"said": "hello world"' in text
    assert "missing: link, crit: error rate < 1%, shot, approval 0/1 (DRI)" in text
    assert "approved by alice as DRI" in text and "check: passed" in text
    assert '"greeting": "hello"' in text and "snapshot step-0004-manual-1.json" in text
    assert "unknown command 'bogus'" in text


def test_validate_prints_every_problem_with_its_location(tmp_path: Path) -> None:
    doc = runbook(cli("a", "echo", "{{ .nope }}"), cli("a", "echo"))
    out = run_cli_plain(tmp_path, "validate", str(write(tmp_path, doc)))
    assert out.returncode == 1
    assert "steps[1].id: duplicate step id 'a'" in out.stdout and "steps[0].with.argv[1]" in out.stdout


def run_cli_plain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUNBOOK, *args], capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60)


def test_group_steps_run_in_order_and_resume_continues_from_the_last_snapshot(tmp_path: Path) -> None:
    doc = runbook(
        {"id": "g", "type": "group", "title": "checks", "steps": [cli("a", "echo", "1"), manual("m")]},
        cli("b", "echo", "2"),
    )
    path = write(tmp_path, doc)
    first = run_cli(tmp_path, "exec", str(path))
    assert first.returncode == 3 and "waits at m" in first.stdout
    run_id = next((tmp_path / ".runbook" / "runs").iterdir()).name
    engine, _ = resume_run(run_id, root=tmp_path / ".runbook")
    assert [r.step_id for r in engine.state.history] == ["a"] and engine.current().id == "m"
    assert run_cli(tmp_path, "resume", run_id).returncode == 3  # still waiting: nothing re-executed
    assert [r.step_id for r in resume_run(run_id, root=tmp_path / ".runbook")[0].state.history] == ["a"]
