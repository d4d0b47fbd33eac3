"""API bodies of condition-engine. Responses use camelCase keys (``sampleEvent``, ``lastRunAt``);
requests accept camelCase or snake_case."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel

from playbooks_contracts.base import JsonObject
from playbooks_contracts.insights import Window
from playbooks_contracts.templating import TemplateWarning, warnings_of

from .actions import upgrade_actions

Trigger = Literal["activity_event", "accounts_pack_run"]
Status = Literal["active", "inactive"]
RunStatus = Literal["pending", "success", "failed", "skipped"]
Name = Field(min_length=1, max_length=200)


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ApiInput(ApiModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


class _Actions(ApiInput):
    """Old-form placeholders in ``actions`` are accepted for one release: stored in the new form and
    reported as ``warnings`` in the response."""

    _template_warnings: list[TemplateWarning] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _one_template_language(self) -> _Actions:
        actions = getattr(self, "actions", None)
        if actions is not None:
            converted, found = upgrade_actions(actions)
            if found:
                self.actions = converted
                self._template_warnings = warnings_of(found)
        return self

    @property
    def template_warnings(self) -> list[TemplateWarning]:
        return self._template_warnings


class PlaybookCreate(_Actions):
    name: str = Name
    trigger: Trigger
    conditions: list[Any] = Field(
        description='Condition objects, ANDed: {"field": "activity.type", "op": "equals", "value": "x"}.'
    )
    actions: list[Any] = Field(
        description='log_activity {"type", "metadata"} or enqueue_task {"queue", ...} objects: {"type", "params"}.'
    )
    status: Status = Field(default="inactive", description="New playbooks start inactive: dry-run them first.")


class PlaybookUpdate(_Actions):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    trigger: Trigger | None = None
    conditions: list[Any] | None = None
    actions: list[Any] | None = None


class FromTemplate(ApiInput):
    name: str | None = Field(default=None, min_length=1, max_length=200, description="Defaults to the template's.")
    status: Status = "inactive"


class PlaybookRead(ApiModel):
    id: uuid.UUID
    name: str
    trigger: str
    conditions: list[Any]
    actions: list[Any]
    status: str = Field(description="active or inactive.")
    version: int
    template_key: str | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    warnings: list[TemplateWarning] = Field(
        default_factory=list, description="On create and update: deprecated input accepted and stored converted."
    )


class PlaybookList(ApiModel):
    items: list[PlaybookRead]


class TemplateRead(ApiModel):
    key: str
    name: str
    category: str
    description: str
    trigger: Trigger
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]


class TemplateList(ApiModel):
    items: list[TemplateRead]


class RunRead(ApiModel):
    id: uuid.UUID
    playbook_id: uuid.UUID
    event_id: uuid.UUID
    trigger_event: dict[str, Any]
    status: RunStatus
    error: str | None
    metrics: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None


class RunPage(ApiModel):
    items: list[RunRead]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class DryRunIn(ApiInput):
    event: JsonObject = Field(
        description="The event data as trigger-ingest normalises it, e.g. "
        '{"activity": {"type": "contract_signed"}} or {"metrics": {"pack_type": "..."}}.'
    )
    depth: int = Field(default=0, ge=0, le=5, description="The event's causation depth.")


class ConditionOutcome(ApiModel):
    index: int
    field: str
    op: str
    value: str | int | float | bool
    passed: bool
    message: str
    actual: Any = None


class Publication(ApiModel):
    topic: str
    type: str
    data: dict[str, Any]


class ActionPreview(ApiModel):
    index: int
    type: str
    params: dict[str, Any]
    publishes: list[Publication]


class DryRunResult(ApiModel):
    playbook_id: uuid.UUID
    trigger: str
    sample_event: dict[str, Any]
    conditions: list[ConditionOutcome]
    would_run: bool
    status: RunStatus = Field(description="The status a real run on this event would record.")
    actions: list[ActionPreview] = Field(description="The actions that would run, in order; empty when none would.")
    reason: str | None = Field(description="Why no action would run (null when they would).")
    side_effects: str = "none: a dry-run writes no row and publishes no message"


class RunCounts(ApiModel):
    success: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    total: int = 0


class CategoryInsight(ApiModel):
    category: str
    runs: RunCounts
    last_run_at: datetime | None


class PlaybookInsight(ApiModel):
    playbook_id: uuid.UUID
    name: str
    trigger: str
    status: str
    runs: RunCounts
    last_run_at: datetime | None


class Insights(ApiModel):
    window: Window
    since: datetime
    categories: list[CategoryInsight]
    playbooks: list[PlaybookInsight]
