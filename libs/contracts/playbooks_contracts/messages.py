"""Data of the messages services publish to each other (the ``data`` of an Envelope).

Readers ignore unknown fields so a producer can add one without breaking older consumers.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from .base import UtcDatetime, WireModel
from .envelope import derived_id

RunStatus = Literal["pending", "success", "failed", "skipped"]


class RecordedRun(WireModel):
    """One playbook's run for the event of a ``playbook_runs.recorded`` message."""

    run_id: uuid.UUID
    playbook_id: uuid.UUID
    playbook_name: str
    status: RunStatus
    error: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)


class PlaybookRunsRecorded(WireModel):
    """Every run one trigger event caused, one message per evaluated event (decision 0028; it
    replaced one ``playbook_run.recorded`` per run). The envelope's id is derived from the org and
    the event, so a redelivered event never yields a second id; ``causation_id`` is the event's."""

    event_id: uuid.UUID
    trigger: str
    created_at: UtcDatetime
    completed_at: UtcDatetime | None = None
    runs: list[RecordedRun] = Field(min_length=1)


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


def requested_run_id(org_id: str, request_id: str) -> str:
    """The id of the run a request starts: stable per org and request id, so the requester knows it in advance
    and a redelivered request finds the same run (runbook-runtime names its runs by it)."""
    return str(derived_id("runbook-run", org_id, request_id))


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
    parameters: dict[str, Any] | None = Field(
        default=None, description="The parameter values the run was given (the learning reads overrides from them)."
    )
    failed_step: str | None = Field(default=None, description="The runbook step that failed, on a failure.")


RunbookRunStatus = Literal["planned", "running", "waiting", "passed", "failed", "rejected", "cancelled", "refused"]


class RunbookRunUpdated(WireModel):
    """A run's status as it changes, so that whoever asked for it (a goal) can follow it without polling.

    ``planned`` carries a dry-run's plan; ``refused`` means the request never became a run (its reason
    says why: not declared var, real run not allowed in the org, unknown runbook ...)."""

    run_id: str = Field(description="The run's id: derived from the org and request_id, so a requester knows it.")
    request_id: str | None = Field(default=None, description="The idempotency key the run was requested with.")
    mode: RunbookMode
    status: RunbookRunStatus
    playbook_id: str | None = None
    playbook_version: str | None = None
    current_step: str | None = None
    waiting_for: list[Any] = Field(default_factory=list, description="What a waiting step needs (redacted).")
    plan: list[dict[str, Any]] | None = Field(
        default=None, description="A dry-run's plan: each step's argv and verdict."
    )
    reason: str | None = Field(default=None, description="Why it was refused, failed, rejected or cancelled.")
    artifacts: Any = Field(default=None, description="The run's artifact bundle, when the runtime records one.")


class RunbookCompiled(WireModel):
    """A runbook the compiler produced from a prose guide, to be reviewed before use."""

    playbook_id: str
    version: str
    name: str
    description: str = ""
    runbook: dict[str, Any]
    mapping_markdown: str = ""
    source_name: str = ""
