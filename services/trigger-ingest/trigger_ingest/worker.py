"""The upstream consumer: raw events from other systems' topics to ``triggers.v1``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from playbooks_contracts import utcnow
from playbooks_contracts.triggers import UPSTREAM_TRIGGER
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import PoisonMessage
from playbooks_platform.service import Runtime

from .normalise import normalise, topic_fallback_id
from .service import accept_events
from .settings import TriggerIngestSettings


def upstream_handler(runtime: Runtime) -> Handler:
    settings: TriggerIngestSettings = runtime.settings  # type: ignore[assignment]
    ttl = timedelta(hours=settings.dedupe_ttl_hours)

    async def handle(deliveries: Sequence[Delivery]) -> None:
        events, headers = [], []
        now = utcnow()
        for d in deliveries:
            if d.raw is not None and len(d.raw) > settings.max_event_bytes:
                raise PoisonMessage(f"message is {len(d.raw)} bytes, over the limit of {settings.max_event_bytes}")
            msg = d.message
            try:
                event = normalise(
                    UPSTREAM_TRIGGER[type(msg)],
                    msg,
                    org_id=msg.org_id,  # type: ignore[attr-defined]
                    source=f"kafka:{d.topic.name}",
                    fallback_id=None if msg.id else topic_fallback_id(d.topic.name, d.partition, d.offset),  # type: ignore[attr-defined]
                    received_at=now,
                )
            except ValueError as exc:
                raise PoisonMessage(f"the event {exc}") from None
            events.append(event)
            headers.append(d.trace_headers())
        async with runtime.database.transaction() as session:
            await accept_events(
                session=session, publisher=runtime.publisher, events=events, ttl=ttl, trace_headers=headers
            )

    return handle
