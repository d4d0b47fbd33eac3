"""Accepting events: de-duplicate by id, publish the new ones. The caller owns the transaction.

The dedupe rows are inserted first and the transaction commits only after the broker has
acknowledged every new event. A failed publish rolls the rows back (the producer may retry);
a crash after publishing but before commit means a republish on retry, which consumers absorb
because they are idempotent on the event id. Nothing accepted is ever lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, utcnow
from playbooks_contracts.topics import TRIGGERS
from playbooks_contracts.triggers import EventAccepted
from playbooks_platform.bus import OutgoingMessage, Publisher

from .models import SCHEMA, seen_events

_CLAIM = text(
    f"INSERT INTO {SCHEMA}.seen_events (org_id, event_id, expires_at) "
    "SELECT * FROM unnest(CAST(:orgs AS text[]), CAST(:ids AS uuid[]), CAST(:exp AS timestamptz[])) "
    "ON CONFLICT DO NOTHING RETURNING org_id, event_id"
)


async def claim_new(
    *, session: AsyncSession, envelopes: Sequence[Envelope], ttl: timedelta
) -> set[tuple[str, uuid.UUID]]:
    """Record the ids; returns those never seen before (one statement for the whole batch)."""
    if not envelopes:
        return set()
    expires = utcnow() + ttl
    result = await session.execute(
        _CLAIM,
        {
            "orgs": [e.org_id for e in envelopes],
            "ids": [e.id for e in envelopes],
            "exp": [expires] * len(envelopes),
        },
    )
    return {(row.org_id, row.event_id) for row in result}


async def accept_events(
    *,
    session: AsyncSession,
    publisher: Publisher,
    envelopes: Sequence[Envelope],
    ttl: timedelta,
    trace_headers: Sequence[dict[str, str]] | None = None,
) -> list[EventAccepted]:
    """Publish each event not seen before to ``triggers.v1`` (keyed by org); report every id.

    ``trace_headers`` (one per envelope) continue each message's own trace when a batch mixes
    several; without them every message continues the current trace.
    """
    new = await claim_new(session=session, envelopes=envelopes, ttl=ttl)
    sent: set[tuple[str, uuid.UUID]] = set()
    outgoing = []
    for i, env in enumerate(envelopes):
        ident = (env.org_id, env.id)
        if ident in new and ident not in sent:  # the same id twice in one batch is sent once
            sent.add(ident)
            headers = trace_headers[i] if trace_headers else {}
            outgoing.append(OutgoingMessage(TRIGGERS, env, env.org_id, headers))
    await publisher.publish_many(outgoing)
    first_seen: set[tuple[str, uuid.UUID]] = set()
    accepted = []
    for env in envelopes:
        ident = (env.org_id, env.id)
        duplicate = ident not in sent or ident in first_seen
        first_seen.add(ident)
        # Both fields are already typed: skip re-validating thousands of them per batch.
        accepted.append(EventAccepted.model_construct(id=env.id, duplicate=duplicate))
    return accepted


async def purge_expired(*, session: AsyncSession) -> int:
    result = await session.execute(delete(seen_events).where(seen_events.c.expires_at < func.now()))
    return result.rowcount or 0
