"""Fixtures of the runtime's unit tests."""

from __future__ import annotations

from typing import Any

import pytest
from runbook_builders import cli, manual, runbook


@pytest.fixture
def three_cli_and_manual() -> dict[str, Any]:
    return runbook(
        cli("say", "echo", "{{ .greeting }} world", capture={"said": "stdout"}, assertions=[{"contains": "world"}]),
        cli("secret", "printf", "password=hunter2 ok", capture={"pw": "stdout"}),
        cli("again", "echo", "{{ .said }}!", assertions=[{"equals": "hello world!"}]),
        manual("check", replay_mode="reuse_evidence"),
        redact=[{"pattern": "(?i)password\\s*[:=]\\s*\\S+", "replace": "password: <redacted>"}],
    )
