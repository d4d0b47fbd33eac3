"""Trigger events: what upstream systems report, as the platform normalises it.

The normalised data of each trigger is what playbook conditions address with dotted paths
(``activity.type``, ``metrics.pack_type``), so its shape is part of the product.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from .base import JsonObject, OrgId, StrictModel, UtcDatetime
from .envelope import MAX_CAUSATION_DEPTH, MAX_SOURCE_LENGTH

Name = Annotated[str, Field(min_length=1, max_length=128)]


class TriggerType(StrEnum):
    ACTIVITY_EVENT = "activity_event"
    ACCOUNTS_PACK_RUN = "accounts_pack_run"
    EXCEPTION = "exception"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# Lower-cased by pydantic-core itself: a Python validator per field cost more than the model.
LowerName = Annotated[str, StringConstraints(min_length=1, max_length=128, to_lower=True)]


class Activity(StrictModel):
    type: LowerName = Field(description="What happened, e.g. contract_signed or deck_saved_to_vault.")
    doc_id: str | None = Field(default=None, max_length=128)
    category: Annotated[str, StringConstraints(max_length=64, to_lower=True)] | None = Field(
        default=None, description="contract, deck, ..."
    )
    metadata: JsonObject = Field(default_factory=dict)


class ActivityEventData(StrictModel):
    activity: Activity


class AccountsPackRunData(StrictModel):
    # Metric names are the upstream's own (estimatedRunwayMonths, pack_type, ...): kept verbatim.
    metrics: JsonObject


class ExceptionData(StrictModel):
    exception_id: str | None = Field(
        default=None, max_length=128, description="The upstream system's id; a repeat updates the exception."
    )
    domain: Name = Field(description="Finance, Healthcare, Trading, Claims, ...")
    exception_type: Name
    severity: Severity
    sla_deadline: UtcDatetime | None = None
    policy_tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=64)
    summary: str | None = Field(default=None, max_length=2000)
    attributes: JsonObject = Field(default_factory=dict)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_lower(cls, value: Any) -> Any:
        return value.lower().strip() if isinstance(value, str) else value

    @field_validator("policy_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return sorted({tag.lower() for tag in value})


TRIGGER_DATA: dict[TriggerType, type[StrictModel]] = {
    TriggerType.ACTIVITY_EVENT: ActivityEventData,
    TriggerType.ACCOUNTS_PACK_RUN: AccountsPackRunData,
    TriggerType.EXCEPTION: ExceptionData,
}


class EventMeta(StrictModel):
    """Optional envelope fields a producer may set on a submitted event."""

    id: uuid.UUID | None = Field(default=None, description="Idempotency key; a repeat is accepted once.")
    occurred_at: UtcDatetime | None = None
    source: str | None = Field(default=None, max_length=MAX_SOURCE_LENGTH)
    causation_id: uuid.UUID | None = None
    depth: int = Field(default=0, ge=0, le=MAX_CAUSATION_DEPTH)


class ActivityEventIn(EventMeta, ActivityEventData):
    """Body of ``POST /v1/events/activity_event``."""


class AccountsPackRunIn(EventMeta, AccountsPackRunData):
    """Body of ``POST /v1/events/accounts_pack_run``."""


class ExceptionIn(EventMeta, ExceptionData):
    """Body of ``POST /v1/events/exception``."""


EVENT_IN: dict[TriggerType, type[EventMeta]] = {
    TriggerType.ACTIVITY_EVENT: ActivityEventIn,
    TriggerType.ACCOUNTS_PACK_RUN: AccountsPackRunIn,
    TriggerType.EXCEPTION: ExceptionIn,
}


class BatchActivityEvent(ActivityEventIn):
    trigger: Literal[TriggerType.ACTIVITY_EVENT]


class BatchAccountsPackRun(AccountsPackRunIn):
    trigger: Literal[TriggerType.ACCOUNTS_PACK_RUN]


class BatchException(ExceptionIn):
    trigger: Literal[TriggerType.EXCEPTION]


BatchEvent = Annotated[BatchActivityEvent | BatchAccountsPackRun | BatchException, Field(discriminator="trigger")]

MAX_BATCH_EVENTS = 1000


class EventBatchIn(StrictModel):
    """Body of ``POST /v1/events:batch``."""

    events: list[BatchEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# Data maps are the producer's own and kept verbatim: conditions address them by their keys.
_VERBATIM = {"metadata", "metrics", "attributes"}


def snake_keys(body: Any) -> Any:
    """``orgId`` -> ``org_id`` for envelope and record fields, never inside data maps."""
    if not isinstance(body, dict):
        return body
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = _snake(key) if isinstance(key, str) else key
        out[name] = snake_keys(value) if isinstance(value, dict) and name not in _VERBATIM else value
    return out


# Field names repeat in every message: converting each once halves the cost of snake_keys.
# Bounded, since keys come from outside.
_SNAKE_NAMES: dict[str, str] = {}


def _snake(key: str) -> str:
    name = _SNAKE_NAMES.get(key)
    if name is None:
        name = key if key.islower() else _CAMEL.sub("_", key).lower()
        if len(_SNAKE_NAMES) < 4096:
            _SNAKE_NAMES[key] = name
    return name


class _Upstream(StrictModel):
    """Other systems write camelCase as often as snake_case; both are accepted."""

    org_id: OrgId

    @model_validator(mode="before")
    @classmethod
    def _snake(cls, value: Any) -> Any:
        return snake_keys(value)


class UpstreamActivityEvent(_Upstream, ActivityEventIn):
    """Raw message on ``upstream.activity-events``: the org travels in the body."""


class UpstreamAccountsPackRun(_Upstream, AccountsPackRunIn):
    """Raw message on ``upstream.accounts-pack-runs``."""


class UpstreamException(_Upstream, ExceptionIn):
    """Raw message on ``upstream.exceptions``."""


UPSTREAM_TRIGGER: dict[type[StrictModel], TriggerType] = {
    UpstreamActivityEvent: TriggerType.ACTIVITY_EVENT,
    UpstreamAccountsPackRun: TriggerType.ACCOUNTS_PACK_RUN,
    UpstreamException: TriggerType.EXCEPTION,
}


class EventAccepted(StrictModel):
    id: uuid.UUID
    duplicate: bool = Field(description="True when this id was accepted before; it was not published again.")


class EventsAccepted(StrictModel):
    accepted: int
    duplicates: int
    events: list[EventAccepted]
