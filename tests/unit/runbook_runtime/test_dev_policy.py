"""`playbooks dev` starts with a read-only default policy; production starts with nothing allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from runbook_builders import cli, runbook

from playbooks_contracts.runbook import parse_runbook
from playbooks_dev.stack import dev_policy_env
from runbook_runtime.engine import Engine, new_state
from runbook_runtime.governance import command_policy
from runbook_runtime.service import effective_layers
from runbook_runtime.settings import RunbookRuntimeSettings
from runbook_runtime.store import RunFolder


def test_production_defaults_run_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYBOOKS_REAL_MODE_COMMANDS", raising=False)
    monkeypatch.delenv("PLAYBOOKS_DEFAULT_ORG_POLICY", raising=False)
    settings = RunbookRuntimeSettings()
    assert settings.real_mode_commands == [] and settings.default_org_policy is None
    rb = parse_runbook(runbook(cli("a", "echo", "hi"), allowed=["echo"]))
    layers = effective_layers(rb, mode="real", operator_commands=settings.real_mode_commands, org=None)
    assert "not allowed by the operator's cap (allowed: nothing)" in command_policy(layers).decide(["echo"]).reason()


def test_dev_default_allows_reads_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert dev_policy_env({"PLAYBOOKS_REAL_MODE_COMMANDS": "[]"}).keys() == {"PLAYBOOKS_DEFAULT_ORG_POLICY"}
    for key, value in dev_policy_env({}).items():
        monkeypatch.setenv(key, value)
    settings = RunbookRuntimeSettings()
    doc = runbook(cli("a", "echo", "hello", capture={"out": "stdout"}), allowed=["echo", "kubectl", "sh", "id"])
    rb = parse_runbook(doc)
    layers = effective_layers(
        rb, mode="real", operator_commands=settings.real_mode_commands, org=settings.default_org_policy
    )
    offline = command_policy(layers, mode="validate")
    assert offline.decide(["kubectl", "get", "pods", "-n", "prod"]).allowed
    assert offline.decide(["id"]).allowed
    for refused in (
        ["kubectl", "delete", "pod", "x"],
        ["kubectl", "get", "pods", "--kubeconfig=/tmp/k"],
        ["kubectl", "exec", "pod", "--", "id"],
        ["sh", "-c", "id"],
    ):
        assert not offline.decide(refused).allowed, refused
    # and a newcomer's first real run does something
    state = new_state(rb, run_id="r", runbook_path="x", digest="d", mode="real", actor="t", env={})
    engine = Engine(rb, state, RunFolder(tmp_path, "r").create(), layers=layers)
    assert engine.next().status == "passed" and engine.state.captures["out"] == "hello"
