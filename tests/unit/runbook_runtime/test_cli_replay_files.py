"""The ``runbook`` CLI with cli-replay files: refusals are clear and leave nothing; recordings replay as recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from runbook_builders import cli, manual, runbook

from runbook_runtime.recording import literal, replay_exit
from runbook_runtime.scenario import Replayer, parse_scenario

RUNBOOK = [sys.executable, "-m", "runbook_runtime.cli"]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNBOOK, *args, "--root", str(tmp_path / ".runbook")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )


def files(tmp_path: Path, rb: dict, scenario_text: str) -> tuple[Path, Path]:
    (tmp_path / "rb.yaml").write_text(yaml.safe_dump(rb))
    (tmp_path / "sc.yaml").write_text(scenario_text)
    return tmp_path / "rb.yaml", tmp_path / "sc.yaml"


def nothing_left(tmp_path: Path) -> bool:
    runs = tmp_path / ".runbook" / "runs"
    return not runs.exists() or not any(runs.iterdir())


BROKEN_YAML = """meta:
  name: "unclosed
  description: the quote above never closes
steps:
  - match:
      argv: [echo, hi]
"""


def test_a_scenario_with_a_yaml_syntax_error_is_refused_clearly_and_leaves_no_run(tmp_path: Path) -> None:
    rb, sc = files(tmp_path, runbook(cli("a", "echo", "hi")), BROKEN_YAML)
    done = run_cli(tmp_path, "exec", str(rb), "--mode", "replay", "--scenario", str(sc))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "failed to parse scenario" in done.stderr
    assert "line " in done.stderr  # where the problem is
    assert nothing_left(tmp_path)


def test_a_scenario_cli_replay_refuses_is_refused_with_its_reason_and_leaves_no_run(tmp_path: Path) -> None:
    scenario = {
        "meta": {"name": "conflict", "vars": {"region": "a"}},
        "steps": [{"match": {"argv": ["echo", "hi"]}, "respond": {"stdout": "x", "capture": {"region": "b"}}}],
    }
    rb, sc = files(tmp_path, runbook(cli("a", "echo", "hi")), yaml.safe_dump(scenario))
    done = run_cli(tmp_path, "exec", str(rb), "--mode", "replay", "--scenario", str(sc))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "capture identifier 'region' conflicts with meta.vars key 'region'" in done.stderr
    assert nothing_left(tmp_path)
    check = subprocess.run(
        [*RUNBOOK, "scenario-check", str(sc)], capture_output=True, text=True, check=False, timeout=60
    )
    assert check.returncode == 1 and "conflicts with meta.vars" in check.stderr


def test_a_missing_scenario_and_an_empty_one_are_refused_without_a_traceback(tmp_path: Path) -> None:
    rb, sc = files(tmp_path, runbook(cli("a", "echo", "hi")), "")
    for path, reason in ((sc, "empty scenario file"), (tmp_path / "absent.yaml", "no such scenario file")):
        done = run_cli(tmp_path, "exec", str(rb), "--mode", "replay", "--scenario", str(path))
        assert done.returncode == 2 and reason in done.stderr and "Traceback" not in done.stderr
    assert nothing_left(tmp_path)


def test_a_runbook_with_a_yaml_syntax_error_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text("meta: {name: [unclosed\nsteps: []\n")
    done = run_cli(tmp_path, "exec", str(tmp_path / "rb.yaml"), "--mode", "dry-run")
    assert done.returncode == 2 and "failed to parse runbook" in done.stderr and "Traceback" not in done.stderr


def test_a_replay_renders_response_templates_before_the_runbook_sees_them(tmp_path: Path) -> None:
    rb = runbook(
        cli("create", "echo", "create", capture={"created": "stdout"}),
        cli("show", "echo", "show", assertions=[{"contains": "zone=eu-1 id=vm-9"}]),
    )
    scenario = {
        "meta": {"name": "templated", "vars": {"zone": "eu-1"}},
        "steps": [
            {"match": {"argv": ["echo", "create"]}, "respond": {"stdout": "ok", "capture": {"id": "vm-9"}}},
            {"match": {"argv": ["echo", "show"]}, "respond": {"stdout": "zone={{ .zone }} id={{ .capture.id }}\n"}},
        ],
    }
    rb_path, sc = files(tmp_path, rb, yaml.safe_dump(scenario))
    done = run_cli(tmp_path, "exec", str(rb_path), "--mode", "replay", "--scenario", str(sc))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "show: passed" in done.stdout


def test_a_recording_replays_output_holding_braces_literally(tmp_path: Path) -> None:
    # printf writes "{{ .x }}" and a lone "{{": cli-replay would render both unless the recording escapes them
    rb = runbook(cli("braces", "printf", "{%s .x }} and {%s", "{", "{"), cli("plain", "echo", "done"))
    rb_path = tmp_path / "rb.yaml"
    rb_path.write_text(yaml.safe_dump(rb))
    out = tmp_path / "recorded.yaml"
    done = run_cli(tmp_path, "record", str(rb_path), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    written = yaml.safe_load(out.read_text())
    scenario = parse_scenario(written)  # the loader rules cli-replay applies
    assert written["meta"]["security"]["allowed_commands"] == ["echo", "printf"]
    assert written["steps"][0]["respond"]["stdout"] == '{{"{{"}} .x }} and {{"{{"}}'
    replayer = Replayer(scenario)
    assert replayer.answer(["printf", "{%s .x }} and {%s", "{", "{"]).stdout == "{{ .x }} and {{"
    replay = run_cli(tmp_path, "exec", str(rb_path), "--mode", "replay", "--scenario", str(out))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_a_run_without_cli_calls_writes_no_scenario_cli_replay_would_refuse(tmp_path: Path) -> None:
    rb = runbook(manual("check"))
    rb_path = tmp_path / "rb.yaml"
    rb_path.write_text(yaml.safe_dump(rb))
    out = tmp_path / "recorded.yaml"
    done = run_cli(tmp_path, "record", str(rb_path), "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr  # waits at the manual step
    assert "no scenario was written" in done.stdout and not out.exists()


def test_recorded_exit_statuses_and_text_are_what_cli_replay_accepts() -> None:
    assert [replay_exit(c) for c in (0, 1, 255, 256, 300, -9, -15, -200)] == [0, 1, 255, 0, 44, 137, 143, 255]
    assert literal("a {{ .b }} {{") == 'a {{"{{"}} .b }} {{"{{"}}'
    assert literal("no braces } {") == "no braces } {"


def test_a_replay_that_leaves_scenario_steps_below_their_minimum_fails_like_cli_replay_exec(tmp_path: Path) -> None:
    scenario = {
        "meta": {"name": "longer than the runbook"},
        "steps": [
            {"match": {"argv": ["echo", "one"]}, "respond": {"stdout": "1"}},
            {"match": {"argv": ["echo", "two"]}, "respond": {"stdout": "2"}},
            {"match": {"argv": ["echo", "maybe"]}, "calls": {"min": 0, "max": 1}},
        ],
    }
    rb, sc = files(tmp_path, runbook(cli("one", "echo", "one")), yaml.safe_dump(scenario))
    done = run_cli(tmp_path, "exec", str(rb), "--mode", "replay", "--scenario", str(sc))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "scenario step[1] ['echo', 'two']: called 0 time(s), needs at least 1" in done.stdout
    assert "maybe" not in done.stdout  # an optional step may stay unplayed
