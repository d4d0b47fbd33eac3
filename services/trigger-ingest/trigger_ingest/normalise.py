"""From what producers send to the one normalised envelope on ``triggers.v1``."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import NamedTuple

import orjson
from pydantic_core import PydanticSerializationError

from playbooks_contracts import derived_id, utcnow
from playbooks_contracts.envelope import MAX_SOURCE_LENGTH
from playbooks_contracts.triggers import EventMeta, TriggerType
from playbooks_platform import messages
from playbooks_platform.bus.publisher import WireHeaders
from playbooks_platform.cloudevents import binary_wire_headers
from playbooks_platform.messages import PositionIds


class Normalised(NamedTuple):
    """An accepted event as it is published: its id and org (for the dedupe claim and the
    message key), and its envelope's JSON. (A tuple: cheaper to build than a frozen dataclass.)"""

    id: uuid.UUID
    org_id: str
    envelope: bytes
    data_bytes: int  # the size of its data, which the limit holds HTTP submissions to
    # Kafka binary-mode CloudEvents headers describing the envelope (the payload is not changed),
    # already encoded as the record batch takes them: a dict encoded per message cost the publisher more
    ce_headers: WireHeaders


def normalise(
    trigger: TriggerType,
    event: EventMeta,
    *,
    org_id: str,
    source: str,
    fallback_id: uuid.UUID | None = None,
    received_at: datetime | str | None = None,
) -> Normalised:
    """The envelope of a validated event. Its id is the producer's, or a stable fallback; its
    time the producer's, or ``received_at`` (a batch's events share one clock reading, which may
    come already written as the envelope writes it, ``messages.timestamp``: once per batch).

    The envelope is ``messages.new``'s, from the validated fields: the edge starts our chain, at
    the place in its own chain the producer states (``causation_id``, ``depth``, held to the limit).
    Raises ``ValueError`` for data JSON parsing allowed but the wire cannot carry.
    """
    ident = event.id or fallback_id or uuid.uuid4()
    try:
        # pydantic-core writes the data's JSON itself (cheaper than dumping the model to a dict, then
        # the dict to JSON: docs/decisions/0006); the bytes are orjson's to the byte (a test holds them).
        data = event.__pydantic_serializer__.to_json(event, exclude=_NOT_DATA)
    except PydanticSerializationError as exc:
        raise ValueError(f"cannot be published: {exc}") from None
    occurred_at = event.occurred_at or received_at or utcnow()
    when = occurred_at if isinstance(occurred_at, str) else messages.timestamp(occurred_at)
    # A producer's source is held to the limit by its model; ours (a long user id) is cut to it.
    source = event.source or source[:MAX_SOURCE_LENGTH]
    envelope = messages.new(
        type=trigger,
        org_id=org_id,
        source=source,
        id=ident,
        occurred_at=when,
        causation_id=event.causation_id,
        depth=event.depth,
        data=orjson.Fragment(data),
    )
    ce_headers = binary_wire_headers(id=envelope["id"], source=source, type=_CE_TYPES[trigger], time=when)
    return Normalised(ident, org_id, messages.encode(envelope), len(data), ce_headers)


# The CloudEvents type of a trigger message; its last part is the trigger, as trigger-ingest reads types.
CE_TYPE_PREFIX = "io.playbooks.trigger."
_CE_TYPES = {t: CE_TYPE_PREFIX + t for t in TriggerType}


# What an event carries besides its data: it goes to the envelope's own fields.
# A set, as pydantic-core's exclude is typed (it reads a frozenset the same).
_NOT_DATA: set[str] = {"id", "occurred_at", "source", "causation_id", "depth", "trigger", "org_id"}


def http_fallback_id(org_id: str, idempotency_key: str | None, index: int) -> uuid.UUID | None:
    """With an Idempotency-Key, a retried request yields the same ids (so no second publish)."""
    return derived_id("http", org_id, idempotency_key, index) if idempotency_key else None


def topic_fallback_id(topic: str, partition: int, offset: int) -> uuid.UUID:
    """A message without an id keeps one identity across redeliveries: its position."""
    return _position_ids(topic, partition)(offset)


@functools.lru_cache(maxsize=4096)
def _position_ids(topic: str, partition: int) -> PositionIds:
    return PositionIds("topic", topic, partition)
