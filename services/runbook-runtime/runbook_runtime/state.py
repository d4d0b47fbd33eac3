"""The run's memory: ``RunState`` (what a snapshot holds) and the uniform ``StepResult``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Mode = Literal["real", "replay", "dry-run"]
ErrorKind = Literal["governance", "assertion", "timeout", "exec", "replay", "evidence", "duplicate", "dependency"]
RunStatus = Literal["running", "waiting", "passed", "failed", "planned", "rejected", "cancelled"]
# A run in one of these accepts nothing more (the service also counts ``failed`` as ended).
CLOSED: frozenset[str] = frozenset({"passed", "rejected", "cancelled"})
ApprovedVia = Literal["token", "unverified", "replay"]


def now() -> datetime:
    return datetime.now(UTC)


class Approval(BaseModel):
    name: str
    role: str = Field(description="The role the approval counts with.")
    roles: list[str] = Field(default_factory=list, description="The approver's roles that the gate accepts.")
    via: ApprovedVia = Field(
        default="unverified",
        description="token: identity and roles from a verified token; unverified: a name typed at the local CLI; "
        "replay: recorded evidence reused by a replay run (counts only there).",
    )
    at: datetime = Field(default_factory=now)


class Attachment(BaseModel):
    filename: str
    path: str = Field(description="Relative to the run folder.")
    sha256: str
    size: int


class StepEvidence(BaseModel):
    """Evidence submitted for a manual step so far: values per evidence name, and approvals."""

    text: dict[str, str] = Field(default_factory=dict)
    checklist: dict[str, list[str]] = Field(default_factory=dict)
    attachments: dict[str, Attachment] = Field(default_factory=dict)
    approvals: list[Approval] = Field(default_factory=list)


class Artifact(BaseModel):
    """One entry of a run's artifact bundle: what a step made (or found already made)."""

    name: str
    signature: str = Field(description="The step's signature template, resolved before the step ran.")
    step_id: str
    status: Literal["created", "reused"]
    run_id: str = Field(description="The run that created it (another run's id when reused).")
    created_at: datetime = Field(default_factory=now, description="When the creating run made it.")
    at: datetime = Field(default_factory=now, description="When this run recorded it.")
    links: list[str] = Field(
        default_factory=list, description="Signatures of the artifacts made by the steps this step needs."
    )


class StepResult(BaseModel):
    run_id: str
    step_id: str
    status: Literal["passed", "failed", "skipped"]
    actor: Literal["engine", "human"]
    started_at: datetime
    ended_at: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    captures: dict[str, str] = Field(default_factory=dict, description="sha256 + preview, or full text if allowed.")
    error: str | None = None
    error_kind: ErrorKind | None = None
    attempts: int = 1
    retryable: bool = False
    retry_strategy: str | None = None
    replay: bool = Field(default=False, description="Produced by a replay run: nothing was executed for real.")
    reused: bool = Field(
        default=False,
        description="The step did not run: its artifact already existed (on_duplicate: reuse); no captures.",
    )
    artifact: Artifact | None = Field(default=None, description="What the step produced or reused.")


class RunState(BaseModel):
    run_id: str
    runbook_path: str
    scenario_path: str | None = None
    runbook_digest: str
    mode: Mode
    started_at: datetime = Field(default_factory=now)
    actor: str
    status: RunStatus = "running"
    current_step_index: int = 0
    vars: dict[str, str] = Field(default_factory=dict)
    captures: dict[str, str] = Field(default_factory=dict)
    history: list[StepResult] = Field(default_factory=list)
    evidence: dict[str, StepEvidence] = Field(default_factory=dict, description="Pending/submitted, per step id.")
    breakpoints: list[str] = Field(default_factory=list)
    replay: dict[str, Any] = Field(default_factory=dict, description="Position in the replay scenario.")
    ended_by: str | None = Field(default=None, description="Who rejected or cancelled the run.")
    end_reason: str | None = Field(default=None, description="Why the run was rejected or cancelled.")
    artifacts: list[Artifact] = Field(default_factory=list, description="The run's artifact bundle, in order.")
    confirmations: dict[str, list[Approval]] = Field(
        default_factory=dict, description="Checkpoint confirmations, per step id (never from replayed evidence)."
    )
    checkpoint_plan: list[dict[str, Any]] | None = Field(
        default=None, description="At a checkpoint: what a dry-run of the rest of the run would do."
    )
