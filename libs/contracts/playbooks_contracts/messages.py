"""Data of the messages services publish to each other (the ``data`` of an Envelope).

Readers ignore unknown fields so a producer can add one without breaking older consumers.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from .base import UtcDatetime, WireModel

RunStatus = Literal["pending", "success", "failed", "skipped"]


class PlaybookRunRecorded(WireModel):
    run_id: uuid.UUID
    playbook_id: uuid.UUID
    playbook_name: str
    event_id: uuid.UUID
    trigger: str
    status: RunStatus
    error: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime
    completed_at: UtcDatetime | None = None


class ActivityLogged(WireModel):
    activity_id: uuid.UUID
    type: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    playbook_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None


class TaskEnqueued(WireModel):
    task_id: uuid.UUID
    queue: str
    params: dict[str, Any] = Field(default_factory=dict)
    playbook_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None


class ExceptionEventMessage(WireModel):
    exception_id: uuid.UUID
    event_type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime


class NotificationRequested(WireModel):
    channel: str
    template_id: str
    body: str
    subject: str | None = None
    exception_id: uuid.UUID | None = None
    recipients: list[str] = Field(default_factory=list)


RunbookMode = Literal["real", "replay", "dry-run"]


class RunbookRequested(WireModel):
    """Ask the runtime to execute a runbook it can resolve: one the org published (by id and version)
    or a file the operator installed. Automation fills the runbook's declared vars, nothing else."""

    request_id: str = Field(description="Idempotency key of the run (per org).")
    mode: RunbookMode = "dry-run"
    runbook: dict[str, Any] | None = Field(
        default=None, description="Inline runbooks are refused on this topic (events fill slots, not programs)."
    )
    runbook_ref: str | None = Field(default=None, description="A runbook file in the runtime's runbooks_dir.")
    runbook_id: str | None = Field(
        default=None, description="A runbook the org published on runbooks.compiled.v1 (its playbook_id)."
    )
    runbook_version: str | None = Field(default=None, description="The published version of runbook_id.")
    scenario: dict[str, Any] | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    playbook_id: str | None = None
    playbook_version: str | None = None
    requested_by: str = "system"


class RunbookStepResult(WireModel):
    run_id: str
    step_id: str
    status: Literal["passed", "failed", "skipped"]
    actor: Literal["engine", "human"]
    started_at: UtcDatetime
    ended_at: UtcDatetime
    attempts: int = 1
    error: str | None = None
    replay: bool = Field(default=False, description="From a replay run: answered from a recording, nothing executed.")


class PlaybookExecuted(WireModel):
    """The outcome of one execution of a playbook version, for its success record."""

    playbook_id: str
    version: str
    run_id: str
    success: bool
    duration_ms: int | None = None
    error: str | None = None


class RunbookCompiled(WireModel):
    """A runbook the compiler produced from a prose guide, to be reviewed before use."""

    playbook_id: str
    version: str
    name: str
    description: str = ""
    runbook: dict[str, Any]
    mapping_markdown: str = ""
    source_name: str = ""
