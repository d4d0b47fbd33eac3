"""The append-only exception event log: every row is also published to ``exception-events.v1``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, Topic, utcnow
from playbooks_contracts.messages import ExceptionEventMessage
from playbooks_contracts.topics import EXCEPTION_EVENTS
from playbooks_platform.outbox import outbox_insert

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


@dataclass(frozen=True, slots=True)
class Appended:
    """An appended event as written (the columns the callers read; ``seq`` is left to the database)."""

    id: uuid.UUID
    exception_id: uuid.UUID
    tenant_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


async def append(
    session: AsyncSession,
    *,
    tenant_id: str,
    exception_id: uuid.UUID,
    events: Sequence[tuple[str, dict[str, Any]]],
    also: Sequence[tuple[Topic, Envelope]] = (),
    causation: Envelope | None = None,
) -> list[Appended]:
    """Append events (in order) and stage them, with ``also``, in the outbox of this transaction.

    One round trip: the events are inserted by a data-modifying CTE of the outbox INSERT. Their ids
    and time are chosen here, so nothing has to be read back to build the messages; ``seq`` (an
    identity) still numbers them in list order, as a multi-row VALUES is inserted in order.
    """
    if not events and not also:
        return []
    now = utcnow()
    rows = [Appended(uuid.uuid4(), exception_id, tenant_id, event_type, payload, now) for event_type, payload in events]
    messages: list[tuple[Topic, Envelope]] = []
    for row in rows:
        data = ExceptionEventMessage(
            exception_id=row.exception_id, event_type=row.event_type, payload=row.payload, created_at=row.created_at
        ).model_dump(mode="json")
        messages.append((EXCEPTION_EVENTS, message(tenant_id, "exception.event", data, row.id, causation)))
    staged = outbox_insert(SCHEMA, [*messages, *also])
    if rows:
        appended = insert(exception_events).values(
            [
                {
                    "id": r.id,
                    "exception_id": r.exception_id,
                    "tenant_id": r.tenant_id,
                    "event_type": r.event_type,
                    "payload": r.payload,
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        )
        staged = staged.add_cte(appended.cte("appended"))
    await session.execute(staged)
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
