"""Runbook builders shared by the runtime's unit tests (a plain module: conftest names collide across folders)."""

from __future__ import annotations

from typing import Any


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
