"""What starting a run asks for: one object the HTTP route and the ``runbook-requests.v1`` worker
both build, and ``flows.start_run`` and ``service.create_run`` read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .state import Mode


@dataclass(frozen=True)
class RunRequest:
    """A run to create in ``org_id`` and, with ``start``, advance as far as it goes (not a dry-run).

    ``runbook`` is the document itself; without it, ``runbook_ref`` names a file in the operator's
    runbooks folder. ``idempotency_key`` is per org: the same key returns the same run, never a second.
    """

    org_id: str
    idempotency_key: str
    actor: str
    mode: Mode
    runbook: dict[str, Any] | None = None
    runbook_ref: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    scenario: dict[str, Any] | None = None
    replay_evidence: dict[str, Any] | None = None
    playbook_id: str | None = None
    playbook_version: str | None = None
    start: bool = False
