"""Accepting events: de-duplicate by id, publish the new ones. The caller owns the transaction.

The dedupe rows are inserted first and the transaction commits only after the broker has
acknowledged every new event. A failed publish rolls the rows back (the producer may retry);
a crash after publishing but before commit means a republish on retry, which consumers absorb
because they are idempotent on the event id. Nothing accepted is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, utcnow
from playbooks_contracts.topics import TRIGGERS
from playbooks_platform.bus import OutgoingMessage, Publisher

from .models import SCHEMA, seen_events

# The positions (1-based) of the batch's first occurrences of ids never seen before: one
# statement, one row back, whatever the batch size (a row per new id cost more than its insert).
_CLAIM = text(
    f"""
    WITH batch AS (
        SELECT * FROM unnest(CAST(:orgs AS text[]), CAST(:ids AS uuid[])) WITH ORDINALITY AS b(org_id, event_id, n)
    ), claimed AS (
        INSERT INTO {SCHEMA}.seen_events (org_id, event_id, expires_at)
        SELECT org_id, event_id, CAST(:expires AS timestamptz) FROM batch
        ON CONFLICT DO NOTHING RETURNING org_id, event_id
    )
    SELECT coalesce(array_agg(first ORDER BY first), '{{}}') FROM (
        SELECT min(n) AS first FROM batch JOIN claimed USING (org_id, event_id) GROUP BY org_id, event_id
    ) AS firsts
    """
)


async def claim_new(*, session: AsyncSession, envelopes: Sequence[Envelope], ttl: timedelta) -> list[int]:
    """Record the ids; returns the indexes of the envelopes to publish, in order: those never
    seen before, each id once even when the batch repeats it."""
    if not envelopes:
        return []
    result = await session.execute(
        _CLAIM,
        {"orgs": [e.org_id for e in envelopes], "ids": [e.id for e in envelopes], "expires": utcnow() + ttl},
    )
    return [n - 1 for n in result.scalar_one()]


async def accept_events(
    *,
    session: AsyncSession,
    publisher: Publisher,
    envelopes: Sequence[Envelope],
    ttl: timedelta,
    trace_headers: Sequence[dict[str, str]] | None = None,
) -> list[bool]:
    """Publish each event not seen before to ``triggers.v1`` (keyed by org); for each envelope,
    whether it was a duplicate (of an earlier submission or of one before it in the batch).

    ``trace_headers`` (one per envelope) continue each message's own trace when a batch mixes
    several; without them every message continues the current trace.
    """
    new = await claim_new(session=session, envelopes=envelopes, ttl=ttl)
    await publisher.publish_many(
        OutgoingMessage(TRIGGERS, envelopes[i], envelopes[i].org_id, trace_headers[i] if trace_headers else {})
        for i in new
    )
    duplicate = [True] * len(envelopes)
    for i in new:
        duplicate[i] = False
    return duplicate


async def purge_expired(*, session: AsyncSession) -> int:
    result = await session.execute(delete(seen_events).where(seen_events.c.expires_at < func.now()))
    return result.rowcount or 0
