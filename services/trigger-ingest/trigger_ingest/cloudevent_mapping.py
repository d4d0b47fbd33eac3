"""From a CloudEvent to a trigger event: its type names the trigger, its data is the event's fields.

The mapping onto the envelope: ``id`` -> envelope id (a UUID as it is, any other id made stable
from org, source and id), ``source`` -> source, ``time`` -> occurred_at, ``type`` -> the trigger
(its last dot-separated part: ``com.example.crm.activity_event`` is an ``activity_event``),
``data`` -> the event's fields, validated by the trigger's own model. The org is the caller's.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from playbooks_contracts.envelope import MAX_SOURCE_LENGTH
from playbooks_contracts.triggers import EVENT_IN, EventMeta, TriggerType
from playbooks_platform.cloudevents import CloudEvent, CloudEventError
from playbooks_platform.cloudevents import from_attributes as cloudevents_from_attributes

# The envelope fields an event may set: from a CloudEvent they come from its attributes only.
_META = frozenset(EventMeta.model_fields) | {"occurredAt", "causationId", "org_id", "orgId", "trigger"}


def trigger_of(ce_type: str) -> TriggerType:
    """The trigger a CloudEvent type names (its last dot-separated part)."""
    name = ce_type.rsplit(".", 1)[-1]
    try:
        return TriggerType(name)
    except ValueError:
        allowed = ", ".join(f"'<prefix>.{t.value}'" for t in TriggerType)
        raise CloudEventError(f"type {ce_type[:128]!r} names no trigger; use one of {allowed}") from None


def to_event(event: CloudEvent, *, org_id: str) -> tuple[TriggerType, EventMeta]:
    """The trigger event a CloudEvent carries, for ``org_id`` (the caller's; never the event's)."""
    event.check_org(org_id)
    trigger = trigger_of(event.type)
    if not isinstance(event.data, dict):
        got = "no data" if event.data is None else f"a JSON {type(event.data).__name__}"
        raise CloudEventError(f"the event's data must be a JSON object of {trigger} fields, got {got}")
    clashes = sorted(_META.intersection(event.data))
    if clashes:
        raise CloudEventError(
            f"data must not set {clashes}: a CloudEvent gives them as attributes (id, source, time), "
            "and the org comes from the token"
        )
    if len(event.source) > MAX_SOURCE_LENGTH:
        raise CloudEventError(f"source is {len(event.source)} characters, over the limit of {MAX_SOURCE_LENGTH}")
    fields: dict[str, Any] = {**event.data, "id": event.envelope_id(org_id), "source": event.source}
    if event.time is not None:
        fields["occurred_at"] = event.time
    try:
        return trigger, EVENT_IN[trigger].model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)[:5]
        )
        raise CloudEventError(f"the {trigger} data is not valid: {problems}") from None


def apply_kafka_attributes(message: Any, attributes: dict[str, str], trigger: TriggerType) -> Any:
    """An upstream message read in Kafka binary mode: the ``ce_*`` attributes fill its id, time and
    source. Its org stays the one the topic's contract carries (the body's); an attribute naming
    another org, another trigger, or another id than the body's is refused (the reason goes to the
    dead letter)."""
    event = cloudevents_from_attributes(attributes, None)
    event.check_org(message.org_id)
    named = trigger_of(event.type)
    if named != trigger:
        raise CloudEventError(f"type {event.type[:128]!r} names {named}, but this topic carries {trigger} events")
    ident = event.envelope_id(message.org_id)
    if message.id is not None and message.id != ident:
        raise CloudEventError(f"the body's id {message.id} is not the event's id {event.id[:64]!r}")
    if message.source is None and len(event.source) > MAX_SOURCE_LENGTH:
        raise CloudEventError(f"source is {len(event.source)} characters, over the limit of {MAX_SOURCE_LENGTH}")
    update: dict[str, Any] = {"id": ident}
    if message.occurred_at is None and event.time is not None:
        update["occurred_at"] = event.time
    if message.source is None:
        update["source"] = event.source
    return message.model_copy(update=update)
