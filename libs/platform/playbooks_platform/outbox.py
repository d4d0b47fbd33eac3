"""The transactional outbox: a message written in the same transaction as the state it
describes, then relayed to Kafka by a background task. A crash between the two loses nothing:
the row stays until the broker has acknowledged it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, delete, func, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, Topic

from .bus.publisher import OutgoingMessage, Publisher
from .db import Database
from .telemetry import inject_headers
from .transient import is_transient

log = logging.getLogger(__name__)

_tables: dict[str, Table] = {}


def outbox_table(schema: str) -> Table:
    """The outbox table of a schema (created by ``migrations.create_outbox``)."""
    if schema not in _tables:
        _tables[schema] = Table(
            "outbox",
            MetaData(schema=schema),
            Column("id", BigInteger, primary_key=True),
            Column("topic", Text, nullable=False),
            Column("key", Text),
            Column("payload", JSONB, nullable=False),
            Column("headers", JSONB, nullable=False),
            Column("created_at", DateTime(timezone=True), server_default=func.now()),
        )
    return _tables[schema]


async def add_to_outbox(session: AsyncSession, schema: str, items: Sequence[tuple[Topic, Envelope]]) -> None:
    """Stage messages in the caller's transaction; they are published after it commits.

    The current trace context is stored with each row so the relayed message continues the
    trace of the request or message that caused it.
    """
    if not items:
        return
    headers = inject_headers()
    rows = [
        {"topic": t.name, "key": env.org_id, "payload": env.model_dump(mode="json"), "headers": headers}
        for t, env in items
    ]
    await session.execute(insert(outbox_table(schema)), rows)


class OutboxRelay:
    """Publishes committed outbox rows in id order, then deletes them.

    ``FOR UPDATE SKIP LOCKED`` lets several replicas relay at once without sending a row twice.
    """

    def __init__(self, db: Database, publisher: Publisher, schema: str, *, batch: int = 500, idle_s: float = 0.05):
        self.db, self.publisher, self.table = db, publisher, outbox_table(schema)
        self.batch, self.idle_s = batch, idle_s
        self._wake = asyncio.Event()
        self._stopping = False
        self.healthy = True

    def wake(self) -> None:
        """Call after committing outbox rows, to relay them without waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        t = self.table
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers)
                    .order_by(t.c.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self.publisher.publish_many(OutgoingMessage(r.topic, r.payload, r.key, r.headers or {}) for r in rows)
            await session.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
        return len(rows)

    async def run(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                sent = await self.relay_once()
                self.healthy, delay = True, 0.1
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("outbox relay failed")
                self.healthy = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if sent < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_s)
