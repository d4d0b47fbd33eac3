"""The command lines behave: choices and exit codes in --help, documented arguments, one clear line
when the database is away, usage errors as exit 2 naming the allowed values, readable logs at a terminal."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from compiler.cli import app as compile_app
from playbooks_platform.cli import app as playbooks_app
from playbooks_platform.logging import ConsoleFormatter, JsonFormatter, setup_logging, wants_json
from runbook_runtime.cli import app as runbook_app

REPO = Path(__file__).resolve().parents[3]
APPS = {"playbooks": playbooks_app, "runbook": runbook_app, "runbook-compile": compile_app}


def commands(app: typer.Typer) -> dict[str, Any]:
    """Command name -> command (typer may bring its own click, so no isinstance on click's classes)."""
    root = get_command(app)
    return dict(root.commands) if hasattr(root, "commands") else {"": root}


def env() -> dict[str, str]:
    paths = [str(p) for p in sorted((REPO / "libs").iterdir()) + sorted((REPO / "services").iterdir())]
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "200"}


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_command_lists_its_exit_codes_and_documents_its_arguments(name: str) -> None:
    found = commands(APPS[name])
    assert len(found) >= (1 if name == "runbook-compile" else 5)
    # a group's commands too (playbooks runs list, ...)
    nested = {f"{g} {c}": cmd for g, group in found.items() for c, cmd in getattr(group, "commands", {}).items()}
    for command_name, command in (found | nested).items():
        result = CliRunner().invoke(APPS[name], [*command_name.split(), "--help"] if command_name else ["--help"])
        assert result.exit_code == 0, result.output
        assert "Exit codes:" in result.output, f"{name} {command_name} --help lists no exit codes"
        for param in command.params:
            if param.param_type_name == "argument":
                assert getattr(param, "help", None), f"{name} {command_name}: argument {param.name} has no help"


def test_choices_are_enums_shown_in_help() -> None:
    serve = CliRunner().invoke(playbooks_app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--role <all|api|worker>" in serve.output
    run = CliRunner().invoke(runbook_app, ["exec", "--help"], env={"COLUMNS": "200"})
    assert "--mode <real|replay|dry-run>" in run.output
    dev = CliRunner().invoke(playbooks_app, ["dev", "--help"], env={"COLUMNS": "200"})
    assert "--log-format <auto|console|json>" in dev.output


def test_serve_with_a_bogus_role_exits_2_naming_the_allowed_values() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "playbooks_platform.cli", "serve", "trigger-ingest", "--role", "bogus"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert "'bogus' is not one of 'all', 'api', 'worker'" in done.stderr
    unknown = CliRunner().invoke(playbooks_app, ["serve", "nosuch"])
    assert unknown.exit_code == 2 and "installed: compiler" in unknown.output


def test_runbook_exec_with_a_bogus_mode_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(runbook_app, ["exec", str(tmp_path / "r.yaml"), "--mode", "sideways"])
    assert result.exit_code == 2 and "'sideways' is not one of 'real', 'replay', 'dry-run'" in result.output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def test_migrate_with_the_database_down_prints_one_clear_line() -> None:
    port = closed_port()
    done = subprocess.run(
        [sys.executable, "-m", "playbooks_platform.cli", "migrate", "trigger-ingest"],
        capture_output=True,
        text=True,
        env=env() | {"PLAYBOOKS_DATABASE_URL": f"postgresql://postgres:hunter2@127.0.0.1:{port}/playbooks"},
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"playbooks migrate: cannot reach the database at 127.0.0.1:{port}/playbooks: ")
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("playbooks.test", logging.WARNING, __file__, 1, message, None, None)
    rec.__dict__.update(extra)
    return rec


def test_console_lines_are_readable_and_json_lines_are_json() -> None:
    line = ConsoleFormatter("trigger-ingest").format(record("consumer unhealthy", group="g1", reason="broker away"))
    assert "WARNING" in line and "trigger-ingest" in line and "consumer unhealthy" in line
    assert "group=g1" in line and "reason='broker away'" in line and "{" not in line
    entry = json.loads(JsonFormatter("trigger-ingest").format(record("consumer unhealthy", group="g1")))
    assert entry["msg"] == "consumer unhealthy" and entry["group"] == "g1" and entry["level"] == "warning"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_format_follows_the_terminal_unless_asked() -> None:
    assert wants_json(None, io.StringIO()) is True, "a pipe or a file gets JSON"
    assert wants_json(None, Tty()) is False, "a person at a terminal gets readable lines"
    assert wants_json(True, Tty()) is True and wants_json(False, io.StringIO()) is False


def test_a_service_logs_json_when_its_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("compiler")
        logging.getLogger("x").warning("hello", extra={"k": 1})
        assert json.loads(stream.getvalue().splitlines()[-1])["msg"] == "hello"
        monkeypatch.setattr(sys, "stderr", tty := Tty())
        setup_logging("compiler")
        logging.getLogger("x").warning("hello", extra={"k": 1})
        assert "hello" in tty.getvalue() and not tty.getvalue().lstrip().startswith("{")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_progress_is_drawn_at_a_terminal_and_silent_in_a_pipe() -> None:
    from rich.console import Console

    from playbooks_platform.progress import progress

    seen = io.StringIO()
    with progress(3, "migrating", console=Console(file=seen, force_terminal=True, width=100)) as done:
        for name in ("trigger-ingest", "condition-engine", "runbook-runtime"):
            done(name)
    assert "migrating" in seen.getvalue() and "3/3" in seen.getvalue()
    piped = io.StringIO()
    with progress(3, "migrating", console=Console(file=piped, force_terminal=False)) as done:
        done("trigger-ingest")
    assert piped.getvalue() == ""
