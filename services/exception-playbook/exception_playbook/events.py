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
from playbooks_platform import messages
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
    also: Sequence[tuple[Topic, messages.Message]] = (),
    causation: Envelope | None = None,
) -> list[Appended]:
    """Append events (in order) and stage them, with ``also``, in the outbox of this transaction.

    One round trip: the events are inserted by a data-modifying CTE of the outbox INSERT. Their ids
    and time are chosen here, so nothing has to be read back to build the messages; ``seq`` (an
    identity) still numbers them in list order, as a multi-row VALUES is inserted in order.
    """
    if not events and not also:
        return []
    rows, items = stage(tenant_id=tenant_id, exception_id=exception_id, events=events, also=also, causation=causation)
    staged = outbox_insert(SCHEMA, items)
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


def stage(
    *,
    tenant_id: str,
    exception_id: uuid.UUID,
    events: Sequence[tuple[str, dict[str, Any]]],
    also: Sequence[tuple[Topic, messages.Message]] = (),
    causation: Envelope | None = None,
    now: datetime | None = None,
) -> tuple[list[Appended], list[tuple[Topic, messages.Message]]]:
    """The event rows to append and the outbox messages to stage with them (each event's
    ``exception-events.v1`` message, then ``also``); nothing is written here."""
    now = now or utcnow()
    rows = [Appended(uuid.uuid4(), exception_id, tenant_id, event_type, payload, now) for event_type, payload in events]
    logged: list[tuple[Topic, messages.Message]] = []
    for row in rows:
        data = ExceptionEventMessage(
            exception_id=row.exception_id, event_type=row.event_type, payload=row.payload, created_at=row.created_at
        ).model_dump(mode="json")
        # A log entry records what happened: at the end of a causation chain it stays there (clamp).
        message = messages.caused_or_new(
            causation, type="exception.event", data=data, org_id=tenant_id, source=SOURCE, id=row.id, clamp=True
        )
        logged.append((EXCEPTION_EVENTS, message))
    return rows, [*logged, *also]


async def timeline(session: AsyncSession, *, tenant_id: str, exception_id: uuid.UUID) -> list[Any]:
    e = exception_events.c
    query = select(exception_events).where(e.tenant_id == tenant_id, e.exception_id == exception_id).order_by(e.seq)
    return list((await session.execute(query)).all())
