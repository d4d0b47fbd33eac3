"""A run folder survives kill -9: the trace (appended, one line per record) and the snapshots (state,
with the history read back from the trace) are what resume, verify and replay-verify accept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from runbook_builders import cli, runbook

from runbook_runtime.session import resume_run
from runbook_runtime.store import RunFolder

RUNBOOK = [sys.executable, "-m", "runbook_runtime.cli"]
STEPS = 40


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rb = tmp_path / "rb.yaml"
    rb.write_text(yaml.safe_dump(runbook(*(cli(f"s{i}", "echo", f"step-{i}") for i in range(STEPS)))))
    sc = tmp_path / "sc.yaml"
    steps = [
        {"match": {"argv": ["echo", f"step-{i}"]}, "respond": {"stdout": f"step {i}\n", "delay": "20ms"}}
        for i in range(STEPS)
    ]
    sc.write_text(yaml.safe_dump({"meta": {"name": "crash"}, "steps": steps}))
    return rb, sc


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*RUNBOOK, *args, "--root", str(tmp_path / ".runbook")]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60)


def _results(trace: Path) -> int:
    return trace.read_text().count('"event": "step_result"') if trace.exists() else 0


def _roll_back(folder: RunFolder, *, history_count: int) -> None:
    """The run folder as a kill -9 right after the snapshot covering ``history_count`` results left
    it: the journal cut after that snapshot, the whole snapshot files it does not name yet removed."""
    kept: list[str] = []
    for line in folder.journal_path.read_text().splitlines():
        record = json.loads(line)
        kept.append(line)
        if record.get("history_count") == history_count or (
            "full" in record
            and json.loads((folder.snapshots / record["full"]).read_text())["history_count"] == history_count
        ):
            break
    folder.journal_path.write_text("".join(f"{line}\n" for line in kept))
    named = {json.loads(line).get("full") for line in kept}
    for snap in folder.snapshots.glob("*.json"):
        if snap.name not in named:
            snap.unlink()


def test_a_run_killed_mid_way_resumes_and_verifies(tmp_path: Path) -> None:
    rb, sc = _files(tmp_path)
    args = ["exec", str(rb), "--mode", "replay", "--scenario", str(sc), "--key", "crash"]
    proc = subprocess.Popen(
        [*RUNBOOK, *args, "--root", str(tmp_path / ".runbook")],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    runs = tmp_path / ".runbook" / "runs"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            traces = list(runs.glob("*/trace.jsonl")) if runs.exists() else []
            if traces and _results(traces[0]) >= 8:
                break
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    run_id = next(runs.iterdir()).name
    folder = RunFolder(tmp_path / ".runbook", run_id)
    killed_at = len(folder.latest_state().history)
    # The kill may land between the 8th result and the snapshot covering it: that result is then
    # ignored (resume runs the step again), so the state holds 7 or more.
    assert 7 <= killed_at < STEPS

    assert _cli(tmp_path, "verify", run_id).returncode == 1  # not complete: steps remain
    done = _cli(tmp_path, "resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _cli(tmp_path, "verify", run_id).returncode == 0
    rv = _cli(tmp_path, "replay-verify", run_id)
    assert rv.returncode == 0, rv.stdout + rv.stderr
    engine, _ = resume_run(run_id, root=tmp_path / ".runbook")
    assert [r.step_id for r in engine.state.history] == [f"s{i}" for i in range(STEPS)]
    assert all(r.status == "passed" and r.replay for r in engine.state.history)


def test_a_result_no_snapshot_covers_and_a_torn_line_are_ignored(tmp_path: Path) -> None:
    """The two states a kill -9 can leave between writes: a step result appended without its snapshot
    (the step runs again on resume), and a record cut short mid-write."""
    rb = tmp_path / "rb.yaml"
    rb.write_text(yaml.safe_dump(runbook(cli("a", "echo", "1"), cli("b", "echo", "2"), cli("c", "echo", "3"))))
    first = _cli(tmp_path, "exec", str(rb), "--key", "torn")
    assert first.returncode == 0, first.stdout + first.stderr
    run_id = next((tmp_path / ".runbook" / "runs").iterdir()).name
    folder = RunFolder(tmp_path / ".runbook", run_id)
    # roll the run back to after step a: drop the later snapshots, as if killed before writing them
    _roll_back(folder, history_count=1)
    lines = folder.trace_path.read_text().splitlines()
    assert sum('"step_result"' in line for line in lines) == 3  # b's and c's results stay, uncovered
    with folder.trace_path.open("a") as f:
        f.write(lines[-1][: len(lines[-1]) // 2])  # torn: no newline, half a record

    engine, _ = resume_run(run_id, root=tmp_path / ".runbook")
    assert [r.step_id for r in engine.state.history] == ["a"] and engine.current().id == "b"
    again = _cli(tmp_path, "resume", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _cli(tmp_path, "verify", run_id).returncode == 0
    engine, _ = resume_run(run_id, root=tmp_path / ".runbook")
    assert [r.step_id for r in engine.state.history] == ["a", "b", "c"]
    records = folder.trace()  # every complete line parses; the torn one is skipped
    assert len(records) == len(folder.trace_path.read_text().splitlines()) - 1
    assert [folder.read_snapshot(name)["history_count"] for name in folder.snapshot_names()] == [0, 1, 2, 3]
