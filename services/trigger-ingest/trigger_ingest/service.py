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

from playbooks_contracts import utcnow
from playbooks_contracts.topics import TRIGGERS
from playbooks_platform.bus import EncodedMessage, Publisher
from playbooks_platform.db import rowcount

from .models import SCHEMA, seen_events
from .normalise import Normalised

# Every id of a batch is new, nearly always: a plain insert says so by its row count, with no
# rows back. The statement that also found which ids were new (joining the batch to the inserted
# rows) cost PostgreSQL much more, for every batch (docs/decisions/0006).
_INSERT = text(
    f"""
    INSERT INTO {SCHEMA}.seen_events (org_id, event_id, expires_at)
    SELECT org_id, event_id, CAST(:expires AS timestamptz)
    FROM unnest(CAST(:orgs AS text[]), CAST(:ids AS uuid[])) AS b(org_id, event_id)
    ON CONFLICT DO NOTHING
    """
)
# When only some were new: the positions (1-based) of the first occurrence of each id this
# transaction inserted (the rows it wrote carry its transaction id as xmin).
_INSERTED_HERE = text(
    f"""
    SELECT coalesce(array_agg(first ORDER BY first), '{{}}') FROM (
        SELECT min(n) AS first
        FROM unnest(CAST(:orgs AS text[]), CAST(:ids AS uuid[])) WITH ORDINALITY AS b(org_id, event_id, n)
        JOIN {SCHEMA}.seen_events AS s USING (org_id, event_id)
        WHERE s.xmin = pg_current_xact_id()::xid
        GROUP BY org_id, event_id
    ) AS firsts
    """
)


async def claim_new(
    *, session: AsyncSession, orgs: Sequence[str], ids: Sequence[uuid.UUID], ttl: timedelta
) -> list[int]:
    """Record the (org, event id) pairs; returns the indexes of the events to publish, in
    order: those never seen before, each id once even when the batch repeats it."""
    if not ids:
        return []
    params = {"orgs": orgs, "ids": ids}
    inserted = rowcount(await session.execute(_INSERT, params | {"expires": utcnow() + ttl}))
    if inserted == len(ids):
        return list(range(len(ids)))
    if inserted == 0:
        return []
    positions: list[int] = (await session.execute(_INSERTED_HERE, params)).scalar_one()
    new = [n - 1 for n in positions]
    if len(new) != inserted:
        # Rows written in a savepoint carry its own transaction id: never guess which were new.
        raise RuntimeError(f"claimed {inserted} event ids but found {len(new)}; is this inside a savepoint?")
    return new


async def accept_events(
    *,
    session: AsyncSession,
    publisher: Publisher,
    events: Sequence[Normalised],
    ttl: timedelta,
    trace_headers: Sequence[dict[str, str]] | None = None,
) -> list[bool]:
    """Publish each event not seen before to ``triggers.v1`` (keyed by org); for each event,
    whether it was a duplicate (of an earlier submission or of one before it in the batch).

    ``trace_headers`` (one per event) continue each message's own trace when a batch mixes
    several; without them every message continues the current trace.
    """
    new = await claim_new(session=session, orgs=[e.org_id for e in events], ids=[e.id for e in events], ttl=ttl)
    await publish_new(publisher=publisher, events=events, new=new, trace_headers=trace_headers)
    duplicate = [True] * len(events)
    for i in new:
        duplicate[i] = False
    return duplicate


async def publish_new(
    *,
    publisher: Publisher,
    events: Sequence[Normalised],
    new: Sequence[int],
    trace_headers: Sequence[dict[str, str]] | None = None,
) -> None:
    """Publish the events at the ``new`` indexes to ``triggers.v1``, keyed by org, with binary-mode
    CloudEvents headers (``ce_*``) beside the trace context; returns once the broker acknowledged them all."""
    messages: list[EncodedMessage] = []
    for i in new:
        event = events[i]
        headers = event.ce_headers
        if trace_headers and (trace := trace_headers[i]):
            headers = headers + [(k, v.encode()) for k, v in trace.items()]
        messages.append((event.org_id, event.envelope, headers))
    await publisher.publish_encoded(TRIGGERS, messages)


async def purge_expired(*, session: AsyncSession) -> int:
    result = await session.execute(delete(seen_events).where(seen_events.c.expires_at < func.now()))
    return rowcount(result) or 0
