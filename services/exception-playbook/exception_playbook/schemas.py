"""API bodies of exception-playbook (snake_case, as the console reads them).

Seed 001's own names are accepted beside ours (the rules live in ``playbooks_contracts.seeds``):
``version`` on a playbook, ``step_order`` on each step, ``tenant_id`` on any body (the routes check it
is the token's org).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from playbooks_contracts.base import JsonObject, OrgId, UtcDatetime
from playbooks_contracts.seeds import check_order_is_position
from playbooks_contracts.templating import TemplateWarning, warnings_of

from .conditions import ActionType, PlaybookConditions, Severity, Strict, parse_params
from .templating import upgrade_params

ActorType = Literal["agent", "human", "system"]
StepStatus = Literal["pending", "completed", "skipped"]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
TenantClaim = Annotated[
    OrgId | None, Field(description="Seed 001's tenant_id: if given, must be the token's org (else 403).")
]


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- exceptions ---------------------------------------------------------------------------


class ExceptionCreate(Strict):
    tenant_id: TenantClaim = None
    external_id: str | None = Field(default=None, max_length=128, description="The upstream system's id, if any.")
    domain: str = Field(min_length=1, max_length=128, description="Finance, Healthcare, Trading, Claims, ...")
    exception_type: str = Field(min_length=1, max_length=128)
    severity: Severity
    owner: str | None = Field(default=None, max_length=200, description='"user:<id>" or "queue:<name>".')
    sla_deadline: UtcDatetime | None = None
    policy_tags: list[Tag] = Field(default_factory=list, max_length=64)
    summary: str | None = Field(default=None, max_length=2000)
    attributes: JsonObject = Field(default_factory=dict)

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower().strip() if isinstance(value, str) else value

    @field_validator("policy_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return sorted({t.lower() for t in value})


class ExceptionUpdate(Strict):
    """Fields an update may change; a severity change re-runs matching."""

    tenant_id: TenantClaim = None
    severity: Severity | None = None
    sla_deadline: UtcDatetime | None = None
    policy_tags: list[Tag] | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=2000)
    attributes: JsonObject | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower().strip() if isinstance(value, str) else value

    @field_validator("policy_tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({t.lower() for t in value})


class ExceptionRead(Read):
    id: uuid.UUID
    tenant_id: str
    external_id: str | None
    domain: str
    exception_type: str
    severity: str
    status: str
    owner: str | None
    sla_deadline: datetime | None
    policy_tags: list[str]
    summary: str | None
    attributes: dict[str, Any]
    current_playbook_id: uuid.UUID | None
    current_step: int | None
    playbook_completed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class ExceptionList(BaseModel):
    items: list[ExceptionRead] = Field(description="Newest first.")
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page; null on the last.")
    count: int = Field(default=0, description="How many exceptions match the filters in all pages.")


# -- playbooks ----------------------------------------------------------------------------


class StepIn(Strict):
    step_order: int | None = Field(
        default=None, ge=1, le=1000, description="Seed 001's step number; if given, must be the step's position."
    )
    name: str = Field(min_length=1, max_length=200)
    action_type: ActionType
    params: JsonObject = Field(default_factory=dict)
    risky: bool = Field(default=False, description="Only a human may complete (or skip) a risky step.")
    skippable: bool = Field(default=True, description="Whether the step may be skipped.")

    @model_validator(mode="after")
    def _params(self) -> StepIn:
        parse_params(self.action_type, self.params)  # ValueError -> 422 naming the field
        return self


class PlaybookCreate(Strict):
    tenant_id: TenantClaim = None
    version: int | None = Field(
        default=None,
        ge=1,
        description="Seed 001's playbook version: if given, the version this body makes (1 for a new playbook, "
        "the current one + 1 for a new version; otherwise 409).",
    )
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    conditions: PlaybookConditions = Field(
        description='{"match": {"domain", "exception_type", "severity_in", "sla_minutes_remaining_lt", '
        '"policy_tags"}, "priority": 100}'
    )
    steps: list[StepIn] = Field(min_length=1, max_length=100, description="In order: step_order is the position.")
    _template_warnings: list[TemplateWarning] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _order(self) -> PlaybookCreate:
        check_order_is_position([s.step_order for s in self.steps])
        return self

    @model_validator(mode="after")
    def _one_template_language(self) -> PlaybookCreate:
        # old-form placeholders are accepted for one release, stored in the new form, and reported
        for i, s in enumerate(self.steps):
            s.params, found = upgrade_params(s.action_type, s.params, f"steps[{i}].params")
            self._template_warnings.extend(warnings_of(found))
        return self

    @property
    def template_warnings(self) -> list[TemplateWarning]:
        return self._template_warnings


class StepRead(Read):
    step_id: uuid.UUID
    playbook_id: uuid.UUID
    step_order: int
    name: str
    action_type: str
    params: dict[str, Any]
    risky: bool
    skippable: bool
    created_at: datetime


class PlaybookRead(BaseModel):
    """A playbook version: seed 001's fields (playbook_id, tenant_id, name, version, conditions, created_at), ours."""

    playbook_id: uuid.UUID
    tenant_id: str
    lineage_id: uuid.UUID
    name: str
    description: str | None
    version: int
    conditions: dict[str, Any]
    current: bool = Field(description="False once a newer version superseded this one.")
    superseded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    steps: list[StepRead]
    warnings: list[TemplateWarning] = Field(
        default_factory=list, description="On create: deprecated input that was accepted and stored converted."
    )


class PlaybookList(BaseModel):
    items: list[PlaybookRead]


class MatchPreviewIn(Strict):
    tenant_id: TenantClaim = None
    domain: str = Field(min_length=1, max_length=128)
    exception_type: str = Field(min_length=1, max_length=128)
    severity: Severity
    sla_deadline: UtcDatetime | None = None
    policy_tags: list[Tag] = Field(default_factory=list, max_length=64)


class MatchPreview(BaseModel):
    playbook_id: uuid.UUID | None
    reasoning: str
    reasoning_details: dict[str, Any]


# -- the playbook of an exception -----------------------------------------------------------


class StepActor(Strict):
    """Notes on a step; the actor is the token's (a body naming another actor is refused)."""

    tenant_id: TenantClaim = None
    actor_type: ActorType | None = Field(default=None, description="If given, must be the token's: agent or human.")
    actor_id: str | None = Field(default=None, max_length=200, description="If given, must be the token's user.")
    notes: str | None = Field(default=None, max_length=4000)


class StepState(BaseModel):
    step_id: uuid.UUID
    step_order: int
    name: str
    action_type: str
    params: dict[str, Any]
    risky: bool
    skippable: bool
    status: StepStatus
    actor_type: str | None = None
    actor_id: str | None = None
    at: datetime | None = None


class ExceptionPlaybook(BaseModel):
    exception_id: uuid.UUID
    playbook_id: uuid.UUID | None
    name: str | None = None
    version: int | None = None
    state: Literal["none", "not_started", "in_progress", "completed"]
    current_step: int | None
    steps: list[StepState] = Field(default_factory=list)
    reasoning: str | None = None
    reasoning_details: dict[str, Any] | None = None
    exception_status: str
    exception_version: int


class RecalculateResult(ExceptionPlaybook):
    changed: bool = Field(description="False when the recommendation and the step stayed as they were.")


# -- events -------------------------------------------------------------------------------


class EventRead(BaseModel):
    id: uuid.UUID
    exception_id: uuid.UUID
    event_type: str
    actor_type: str | None
    actor_id: str | None
    payload: dict[str, Any]
    created_at: datetime


class EventList(BaseModel):
    items: list[EventRead]


# -- packs --------------------------------------------------------------------------------


class PackRead(BaseModel):
    kind: Literal["policy", "domain"]
    name: str
    version: int = Field(description="0: the built-in default (the org has not written one).")
    document: dict[str, Any]
    created_by: str | None = None
    created_at: datetime | None = None


class PackList(BaseModel):
    items: list[PackRead]
