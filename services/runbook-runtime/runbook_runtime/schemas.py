"""HTTP bodies of runbook-runtime (not wire contracts: only this service reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .state import Artifact, StepResult


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_In):
    runbook: dict[str, Any] | None = Field(default=None, description="The runbook document (runbook/v0), inline.")
    runbook_ref: str | None = Field(default=None, description="A runbook file name in the service's runbooks_dir.")
    runbook_id: str | None = Field(
        default=None,
        max_length=200,
        description="A runbook the org published (GET /v1/runbooks), with runbook_version.",
    )
    runbook_version: str | None = Field(default=None, max_length=100, description="The published version to run.")
    mode: Literal["real", "replay", "dry-run"] = "dry-run"
    vars: dict[str, str] = Field(default_factory=dict)
    scenario: dict[str, Any] | None = Field(default=None, description="cli-replay scenario (replay mode).")
    replay_evidence: dict[str, Any] | None = Field(
        default=None, description="Manual-step evidence reused in replay (step id -> evidence)."
    )
    start: bool = Field(default=False, description="Advance at once (as `continue`) after creating the run.")
    playbook_id: str | None = None
    playbook_version: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RunCreate:
        given = [n for n in ("runbook", "runbook_ref", "runbook_id") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of runbook (inline), runbook_ref or runbook_id (with runbook_version)")
        if (self.runbook_id is None) != (self.runbook_version is None):
            raise ValueError("runbook_id and runbook_version go together: a reference names one published version")
        return self


class WaitingApprovals(BaseModel):
    min: int = Field(description="How many distinct people must approve (or confirm, at a checkpoint).")
    roles: list[str] = Field(description="Any of these roles counts (the step's own); empty means any role.")
    floor_roles: list[str] = Field(
        default_factory=list, description="The org's floor: approvers hold one of these too."
    )


class WaitingStep(BaseModel):
    """The step a waiting run waits at, as its runbook declares it: what the evidence form asks for."""

    id: str
    type: str = Field(description="manual or checkpoint (or a cli step marked checkpoint: true).")
    title: str
    instructions: str = ""
    required_evidence: list[dict[str, Any]] = Field(
        default_factory=list, description="Each item: kind (text, checklist, attachment), name, items, optional."
    )
    approvals: WaitingApprovals | None = None
    checkpoint: bool = Field(default=False, description="The step waits for a checkpoint confirmation first.")


class RunRead(BaseModel):
    run_id: str
    mode: str
    status: str
    current_step: str | None
    waiting_for: list[str] = Field(default_factory=list, description="What a waiting manual step still needs.")
    waiting_step: WaitingStep | None = Field(
        default=None, description="The step the run waits at (GET /v1/runs/{id} only); null unless waiting."
    )
    vars: dict[str, str]
    captures: dict[str, str]
    history: list[StepResult] = Field(
        default_factory=list, description="Step results so far; empty in GET /v1/runs, which lists summaries."
    )
    plan: list[dict[str, Any]] | None = None
    playbook_id: str | None = None
    playbook_version: str | None = None
    runbook_name: str | None = Field(default=None, description="The runbook's meta.name.")
    requested_by: str
    replay: bool = Field(default=False, description="A replay run: answered from a recording, never an execution.")
    ended_by: str | None = None
    end_reason: str | None = None
    artifacts: list[Artifact] = Field(
        default_factory=list, description="The artifact bundle: what each step created or reused, and the links."
    )
    checkpoint_plan: list[dict[str, Any]] | None = Field(
        default=None, description="At a checkpoint: what the rest of the run would do, shown before confirming."
    )
    created_at: datetime
    updated_at: datetime


class RunPage(BaseModel):
    items: list[RunRead] = Field(description="Newest first; summaries (no history).")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")
    count: int = Field(description="How many runs match the filters in all pages.")


class AdvanceResult(BaseModel):
    run: RunRead
    results: list[StepResult] = Field(description="Step results produced by this call.")


class EvidenceIn(_In):
    step_id: str | None = Field(default=None, description="Defaults to the current step.")
    name: str
    value: str | list[str] | None = Field(default=None, description="Text, or checklist items to tick.")
    filename: str | None = Field(default=None, description="Attachment file name (with content_base64).")
    content_base64: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> EvidenceIn:
        if (self.value is None) == (self.content_base64 is None):
            raise ValueError("give either value (text/checklist) or content_base64 (attachment)")
        return self


class ApprovalIn(_In):
    """The approver is the token's user with the token's roles; a body cannot name anyone."""

    step_id: str | None = Field(default=None, description="Defaults to the current step.")

    @model_validator(mode="before")
    @classmethod
    def _no_claims(cls, data: Any) -> Any:
        if isinstance(data, dict):
            claims = sorted(
                k for k in ("name", "role", "roles", "by", "approver", "as", "user", "user_id") if k in data
            )
            if claims:
                raise ValueError(
                    f"{', '.join(claims)}: an approval is made by the caller, with the roles in the caller's token; "
                    "a request body cannot name the approver or a role"
                )
        return data


class RejectIn(_In):
    step_id: str | None = Field(default=None, description="Defaults to the current step.")
    reason: str = Field(min_length=1, max_length=2000, description="Why the gate is refused; kept in the trace.")


class CancelIn(_In):
    reason: str | None = Field(default=None, max_length=2000)


class VerifyRead(BaseModel):
    ok: bool
    problems: list[str]


class ValidateRead(BaseModel):
    valid: bool
    problems: list[dict[str, str]]


class RunbookSummary(BaseModel):
    runbook_id: str
    version: str
    name: str = Field(description="The runbook's meta.name.")
    description: str = ""
    steps: int = Field(description="How many top-level steps it has.")
    vars: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Each var: default, description, secret, flag, allowed (a form's fields)."
    )
    published_at: datetime
    source: str = Field(description="The service that published it.")


class RunbookPage(BaseModel):
    items: list[RunbookSummary] = Field(description="Newest publication first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")
    count: int = Field(description="How many published versions match the search in all pages.")


class PublishedRunbook(BaseModel):
    runbook_id: str
    version: str
    published_at: datetime
    source: str
    document: dict[str, Any] = Field(description="The runbook document (runbook/v0), as published.")
