"""The upstream consumer: raw events from other systems' topics to ``triggers.v1``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from playbooks_contracts import utcnow
from playbooks_contracts.triggers import (
    UPSTREAM_TRIGGER,
    UpstreamAccountsPackRun,
    UpstreamActivityEvent,
    UpstreamException,
)
from playbooks_platform import messages
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.cloudevents import KAFKA_PREFIX, CloudEventError, binary_attributes
from playbooks_platform.errors import PoisonMessage
from playbooks_platform.service import Runtime

from .cloudevent_mapping import apply_kafka_attributes
from .normalise import Normalised, normalise, topic_fallback_id
from .service import claim_new, publish_new
from .settings import TriggerIngestSettings

# Envelopes are written in slices, and the event loop is given back between them: the dedupe
# claim, which needs only the ids, makes its round trips to PostgreSQL meanwhile.
_SLICE = 200

# What the upstream topics carry (each topic's raw model).
Upstream = UpstreamActivityEvent | UpstreamAccountsPackRun | UpstreamException


def upstream_handler(runtime: Runtime[TriggerIngestSettings]) -> Handler[Upstream]:
    settings = runtime.settings
    ttl = timedelta(hours=settings.dedupe_ttl_hours)

    async def handle(deliveries: Sequence[Delivery[Upstream]]) -> None:
        orgs, ids = [], []
        for d in deliveries:
            if d.raw is not None and len(d.raw) > settings.max_event_bytes:
                raise PoisonMessage(f"message is {len(d.raw)} bytes, over the limit of {settings.max_event_bytes}")
            if d.headers and any(k.startswith(KAFKA_PREFIX) for k in d.headers):
                d.message = _binary_mode(d)
            msg = d.message
            orgs.append(msg.org_id)
            ids.append(msg.id or topic_fallback_id(d.topic.name, d.partition, d.offset))
        async with runtime.database.transaction() as session:
            # The claim and the envelopes are independent: PostgreSQL inserts the ids while
            # this process writes the envelopes (the two take comparable time: docs/decisions/0006).
            claim = asyncio.ensure_future(claim_new(session=session, orgs=orgs, ids=ids, ttl=ttl))
            try:
                events = await _envelopes(deliveries, ids)
            except BaseException:
                await asyncio.gather(claim, return_exceptions=True)  # then the transaction rolls back
                raise
            new = await claim
            await publish_new(
                publisher=runtime.publisher,
                events=events,
                new=new,
                trace_headers=[d.trace_headers() for d in deliveries],
            )

    return handle


def _binary_mode(d: Delivery[Upstream]) -> Any:
    """A CloudEvent in Kafka binary mode: its ``ce_*`` headers fill the id, time and source."""
    attributes = binary_attributes(d.headers, KAFKA_PREFIX) or {}
    try:
        return apply_kafka_attributes(d.message, attributes, UPSTREAM_TRIGGER[type(d.message)])
    except CloudEventError as exc:
        raise PoisonMessage(f"CloudEvent refused: {exc}") from None


async def _envelopes(deliveries: Sequence[Delivery[Upstream]], ids: Sequence[uuid.UUID]) -> list[Normalised]:
    now = messages.timestamp(utcnow())  # written once: the events without a time of their own share it
    sources: dict[str, str] = {}
    events = []
    for start in range(0, len(deliveries), _SLICE):
        if start:
            await asyncio.sleep(0)
        for d, ident in zip(deliveries[start : start + _SLICE], ids[start : start + _SLICE], strict=True):
            msg = d.message
            topic = d.topic.name
            source = sources.get(topic) or sources.setdefault(topic, f"kafka:{topic}")
            try:
                event = normalise(
                    UPSTREAM_TRIGGER[type(msg)],
                    msg,
                    org_id=msg.org_id,
                    source=source,
                    fallback_id=ident,
                    received_at=now,
                )
            except ValueError as exc:
                raise PoisonMessage(f"the event {exc}") from None
            events.append(event)
    return events
