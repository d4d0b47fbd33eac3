"""Governance of CLI steps: argv only, resolved allow-list, denied env vars, redaction, timeouts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from runbook_builders import cli, manual, runbook

from playbooks_contracts.runbook import parse_runbook
from runbook_runtime.engine import Engine, new_state, safe_filename
from runbook_runtime.governance import GovernanceError, resolve_command, resolve_vars
from runbook_runtime.store import RunFolder


def start(doc, tmp_path: Path, *, env=None, vars_=None) -> tuple[Engine, RunFolder]:
    rb = parse_runbook(doc)
    state = new_state(
        rb, run_id="r1", runbook_path="rb.yaml", digest="d", mode="real", actor="t", vars_=vars_, env=env or {}
    )
    folder = RunFolder(tmp_path, "r1").create()
    return Engine(rb, state, folder, sleep=lambda s: None), folder


def test_argv_is_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    injected = f"x; touch {marker} $(touch {marker}) `touch {marker}`"
    engine, _ = start(runbook(cli("a", "echo", injected, capture={"out": "stdout"})), tmp_path)
    assert engine.next().status == "passed"
    assert engine.state.captures["out"] == injected
    assert not marker.exists()


def test_a_path_cannot_hide_a_disallowed_command(tmp_path: Path) -> None:
    rm = shutil.which("rm")
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    engine, _ = start(runbook(cli("a", rm, str(victim)), allowed=["ls"]), tmp_path)
    result = engine.next()
    assert result.status == "failed" and result.error_kind == "governance"
    assert "not allowed" in result.error
    assert victim.exists()

    # a symlink named like an allowed program still resolves to rm
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ls").symlink_to(rm)
    gov = parse_runbook(runbook(cli("a", "ls"), allowed=["ls"])).meta.governance
    with pytest.raises(GovernanceError, match="not allowed"):
        resolve_command("ls", gov, path=str(fake))
    assert resolve_command("ls", gov) == os.path.realpath(shutil.which("ls"))


def test_deny_list_wins_over_allow_list() -> None:
    gov = parse_runbook(runbook(cli("a", "echo"), allowed=["echo"], deny_commands=["echo"])).meta.governance
    with pytest.raises(GovernanceError, match="deny list"):
        resolve_command("echo", gov)


def test_denying_an_alias_of_a_multi_call_binary_denies_the_alias_only(tmp_path: Path) -> None:
    """Like reboot -> systemctl: denying the alias must not deny the binary, nor let the alias through."""
    binary = tmp_path / "multicall"
    shutil.copy(shutil.which("echo"), binary)
    alias = tmp_path / "reboot"
    alias.symlink_to(binary)
    doc = runbook(cli("a", str(binary)), allowed=[str(binary)], deny_commands=[str(alias)])
    gov = parse_runbook(doc).meta.governance
    assert resolve_command(str(binary), gov) == str(binary)
    with pytest.raises(GovernanceError, match="deny list"):
        resolve_command(str(alias), gov)
    with pytest.raises(GovernanceError, match="deny list"):
        resolve_command("reboot", gov, path=str(tmp_path))


def test_templates_never_read_denied_environment_variables(tmp_path: Path) -> None:
    doc = runbook(cli("a", "echo", "{{ .region }}"), deny_env_vars=["SECRET_*", "AWS_*"])
    doc["meta"]["vars"] = {"region": "eu", "AWS_PROFILE": "default"}
    gov = parse_runbook(doc).meta.governance
    env = {"region": "us", "AWS_PROFILE": "prod-admin", "SECRET_TOKEN": "s3cr3t"}
    values = resolve_vars(parse_runbook(doc).meta.defaults(), {}, gov, env)
    assert values["region"] == "us"  # a permitted variable may come from the environment
    assert values["AWS_PROFILE"] == "default"  # a denied one never does
    with pytest.raises(GovernanceError, match="deny_env_vars"):
        resolve_vars({}, {"SECRET_TOKEN": "x"}, gov, env)


def test_child_environment_is_scrubbed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t")
    monkeypatch.setenv("DATABASE_PASSWORD", "pw")
    engine, _ = start(runbook(cli("a", "env", capture={"env": "stdout"}), deny_env_vars=["SECRET_*"]), tmp_path)
    engine.next()
    assert "s3cr3t" not in engine.state.captures["env"]
    assert "DATABASE_PASSWORD" not in engine.state.captures["env"]


def test_output_is_redacted_before_it_is_stored(tmp_path: Path, three_cli_and_manual) -> None:
    engine, folder = start(three_cli_and_manual, tmp_path)
    engine.continue_()
    # the trace, the whole snapshots and the journal of deltas
    stored = folder.trace_path.read_text() + "".join(p.read_text() for p in folder.snapshots.iterdir())
    assert folder.journal_path.exists()
    assert "hunter2" not in stored
    assert engine.state.captures["pw"] == "password: <redacted> ok"
    # by default the trace keeps a hash and a preview, not the full text
    [result] = [r for r in engine.state.history if r.step_id == "secret"]
    assert result.evidence["stdout"].startswith("sha256:")


def test_timeout_fails_the_step_and_retries_follow_the_strategy(tmp_path: Path) -> None:
    slept: list[float] = []
    doc = runbook(
        cli("slow", "sleep", "5", timeout="200ms", retry={"attempts": 3, "delay": 1, "strategy": "exponential"})
    )
    engine, _ = start(doc, tmp_path)
    engine._sleep = slept.append
    result = engine.next()
    assert result.status == "failed" and result.error_kind == "timeout" and result.retryable
    # 1 s then 2 s, each with equal jitter in real mode: at least half, at most the whole
    assert result.attempts == 3 and len(slept) == 2
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0
    assert engine.state.status == "failed"


def test_attachment_names_cannot_escape_the_run_folder(tmp_path: Path) -> None:
    engine, folder = start(runbook(manual("m")), tmp_path)
    att = engine.attach("shot", "../../../etc/passwd", b"data")
    assert att.filename == "passwd"
    stored = folder.path / att.path
    assert stored.read_bytes() == b"data" and stored.parent == folder.attachments
    assert safe_filename("..\\..\\.ssh") == "ssh"
    with pytest.raises(ValueError, match="escapes"):
        folder.store_attachment("attachments/../../outside", b"x")


def test_runbook_refs_cannot_leave_the_runbooks_folder(tmp_path: Path) -> None:
    from playbooks_platform.errors import Invalid, NotFound
    from runbook_runtime.flows import resolve_ref
    from runbook_runtime.settings import RunbookRuntimeSettings

    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "ok.yaml").write_text("apiVersion: runbook/v0\n")
    (tmp_path / "secret.yaml").write_text("apiVersion: runbook/v0\n")
    settings = RunbookRuntimeSettings(runbooks_dir=tmp_path / "books")
    assert resolve_ref(settings, "ok.yaml") == {"apiVersion": "runbook/v0"}
    with pytest.raises(NotFound):
        resolve_ref(settings, "../secret.yaml")
    with pytest.raises(Invalid, match="no runbooks_dir"):
        resolve_ref(RunbookRuntimeSettings(), "ok.yaml")


def test_literal_braces_reach_the_program_as_written_and_templates_still_render(tmp_path: Path) -> None:
    """Another tool's template ({{range .items}}, $k) is written with the escape {{ "{{" }}: the program
    gets the braces, the runbook's own {{ .greeting }} in the same item is rendered, and a value that
    holds braces is never read again as a template."""
    item = '{{ "{{" }}range $k, $v := .metadata.labels}}{{ "{{" }}$k}} {{ .greeting }}{{ "{{" }}end}}'
    engine, _ = start(runbook(cli("a", "echo", item, capture={"out": "stdout"})), tmp_path)
    assert engine.next().status == "passed"
    assert engine.state.captures["out"].strip() == "{{range $k, $v := .metadata.labels}}{{$k}} hello{{end}}"
    engine, _ = start(
        runbook(cli("a", "echo", "{{ .greeting }}", capture={"out": "stdout"})),
        tmp_path / "2",
        vars_={"greeting": '{{ "{{" }}x'},
    )
    assert engine.next().status == "passed"
    assert engine.state.captures["out"].strip() == '{{ "{{" }}x'


def test_bare_foreign_braces_are_still_refused_with_the_escape_named() -> None:
    from playbooks_contracts.runbook import validate_runbook

    problems = validate_runbook(runbook(cli("a", "echo", "{{range .items}}")))
    assert problems and 'write literal braces as {{ "{{" }}' in problems[0].message
