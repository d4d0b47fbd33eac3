"""Runbook builders shared by the runtime's unit tests."""

from __future__ import annotations

from typing import Any

import pytest


def cli(step_id: str, *argv: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "cli", "with": {"argv": list(argv)}, **extra}


def manual(step_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": step_id,
        "type": "manual",
        "title": "Check the dashboard",
        "required_evidence": [
            {"kind": "text", "name": "link"},
            {"kind": "checklist", "name": "crit", "items": ["error rate < 1%"]},
            {"kind": "attachment", "name": "shot"},
        ],
        "approvals": {"min": 1, "roles": ["DRI"]},
    }
    return body | extra


def runbook(*steps: dict[str, Any], allowed: list[str] | None = None, **governance: Any) -> dict[str, Any]:
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "demo",
            "vars": {"greeting": "hello"},
            "governance": {"allowed_commands": allowed or ["echo", "printf", "cat", "sleep", "env"], **governance},
        },
        "steps": list(steps),
    }


@pytest.fixture
def three_cli_and_manual() -> dict[str, Any]:
    return runbook(
        cli("say", "echo", "{{ .greeting }} world", capture={"said": "stdout"}, assertions=[{"contains": "world"}]),
        cli("secret", "printf", "password=hunter2 ok", capture={"pw": "stdout"}),
        cli("again", "echo", "{{ .said }}!", assertions=[{"equals": "hello world!"}]),
        manual("check", replay_mode="reuse_evidence"),
        redact=[{"pattern": "(?i)password\\s*[:=]\\s*\\S+", "replace": "password: <redacted>"}],
    )
