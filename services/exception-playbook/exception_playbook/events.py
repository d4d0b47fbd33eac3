"""The append-only exception event log: every row is also published to ``exception-events.v1``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, Topic
from playbooks_contracts.messages import ExceptionEventMessage
from playbooks_contracts.topics import EXCEPTION_EVENTS
from playbooks_platform.outbox import add_to_outbox

from .models import SCHEMA, exception_events

SOURCE = "exception-playbook"

# Event types of the log.
EXCEPTION_CREATED = "ExceptionCreated"
EXCEPTION_UPDATED = "ExceptionUpdated"
PLAYBOOK_STARTED = "PlaybookStarted"
PLAYBOOK_RECALCULATED = "PlaybookRecalculated"
STEP_COMPLETED = "PlaybookStepCompleted"
STEP_SKIPPED = "PlaybookStepSkipped"
STEP_REFUSED = "PlaybookStepRefused"
PLAYBOOK_COMPLETED = "PlaybookCompleted"


async def append(
    session: AsyncSession,
    *,
    tenant_id: str,
    exception_id: uuid.UUID,
    events: Sequence[tuple[str, dict[str, Any]]],
    also: Sequence[tuple[Topic, Envelope]] = (),
    causation: Envelope | None = None,
) -> list[Any]:
    """Append events (in order) and stage them, with ``also``, in the outbox of this transaction."""
    if not events and not also:
        return []
    rows: list[Any] = []
    if events:
        values = [
            {
                "id": uuid.uuid4(),
                "exception_id": exception_id,
                "tenant_id": tenant_id,
                "event_type": event_type,
                "payload": payload,
            }
            for event_type, payload in events
        ]
        rows = list((await session.execute(insert(exception_events).returning(*exception_events.c), values)).all())
        rows.sort(key=lambda r: r.seq)
    messages: list[tuple[Topic, Envelope]] = []
    for row in rows:
        data = ExceptionEventMessage(
            exception_id=row.exception_id, event_type=row.event_type, payload=row.payload, created_at=row.created_at
        ).model_dump(mode="json")
        messages.append((EXCEPTION_EVENTS, message(tenant_id, "exception.event", data, row.id, causation)))
    await add_to_outbox(session, SCHEMA, [*messages, *also])
    return rows


def message(
    tenant_id: str, type_: str, data: dict[str, Any], id_: uuid.UUID | None = None, causation: Envelope | None = None
) -> Envelope:
    """An envelope from this service (one step down a causation chain when caused by a message)."""
    return Envelope(
        id=id_ or uuid.uuid4(),
        type=type_,
        org_id=tenant_id,
        source=SOURCE,
        causation_id=causation.id if causation else None,
        depth=min(causation.depth + 1, 5) if causation else 0,
        data=data,
    )


async def timeline(session: AsyncSession, *, tenant_id: str, exception_id: uuid.UUID) -> list[Any]:
    e = exception_events.c
    query = select(exception_events).where(e.tenant_id == tenant_id, e.exception_id == exception_id).order_by(e.seq)
    return list((await session.execute(query)).all())
