"""Trigger events: what upstream systems report, as the platform normalises it.

The normalised data of each trigger is what playbook conditions address with dotted paths
(``activity.type``, ``metrics.pack_type``), so its shape is part of the product.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AliasGenerator, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel, to_pascal

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


def _spellings(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name), to_pascal(name))


# Other systems write camelCase (and PascalCase) as often as snake_case: each field answers to
# all three, inside pydantic-core. Converting the keys in Python first cost more than the
# validation it prepared. Data maps (metadata, metrics, attributes) are the producer's own and
# kept verbatim: conditions address them by their keys.
_ANY_CASE = ConfigDict(alias_generator=AliasGenerator(validation_alias=_spellings))


class UpstreamActivity(Activity):
    """An activity as other systems write it: its fields in snake_case, camelCase or PascalCase."""

    model_config = _ANY_CASE


class _Upstream(StrictModel):
    """What the three upstream models share: the org in the body, and fields in any case (the
    config is inherited)."""

    model_config = _ANY_CASE

    org_id: OrgId


class UpstreamActivityEvent(_Upstream, ActivityEventIn):
    """Raw message on ``upstream.activity-events``: the org travels in the body."""

    activity: UpstreamActivity


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
