"""HTTP bodies of runbook-runtime (not wire contracts: only this service reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .state import StepResult


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_In):
    runbook: dict[str, Any] | None = Field(default=None, description="The runbook document (runbook/v0), inline.")
    runbook_ref: str | None = Field(default=None, description="A runbook file name in the service's runbooks_dir.")
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
        if (self.runbook is None) == (self.runbook_ref is None):
            raise ValueError("give exactly one of runbook (inline) or runbook_ref")
        return self


class RunRead(BaseModel):
    run_id: str
    mode: str
    status: str
    current_step: str | None
    waiting_for: list[str] = Field(default_factory=list, description="What a waiting manual step still needs.")
    vars: dict[str, str]
    captures: dict[str, str]
    history: list[StepResult] = Field(
        default_factory=list, description="Step results so far; empty in GET /v1/runs, which lists summaries."
    )
    plan: list[dict[str, Any]] | None = None
    playbook_id: str | None = None
    playbook_version: str | None = None
    requested_by: str
    replay: bool = Field(default=False, description="A replay run: answered from a recording, never an execution.")
    ended_by: str | None = None
    end_reason: str | None = None
    created_at: datetime
    updated_at: datetime


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
