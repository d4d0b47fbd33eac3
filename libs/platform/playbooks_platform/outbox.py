"""The transactional outbox: a message written in the same transaction as the state it
describes, then relayed to Kafka by a background task. A crash between the two loses nothing:
the row stays until the broker has acknowledged it.

A row holds one message (``add_to_outbox``, for requests that cause a few) or a packed batch
(``stage_batch``, for consumers that cause thousands a second): one row per consumed batch
instead of one per message took the outbox's share of the database from most of it to almost
none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Insert,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Topic

from .backoff import Backoff
from .bus.publisher import OutgoingMessage, Publisher
from .db import Database
from .messages import Message
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
            Column("batch", LargeBinary),  # a packed batch instead of one message (see stage_batch)
            Column("created_at", DateTime(timezone=True), server_default=func.now()),
        )
    return _tables[schema]


async def add_to_outbox(session: AsyncSession, schema: str, items: Sequence[tuple[Topic, Message]]) -> None:
    """Stage messages (``playbooks_platform.messages``) in the caller's transaction; they are
    published after it commits.

    The current trace context is stored with each row so the relayed message continues the
    trace of the request or message that caused it.
    """
    if not items:
        return
    await session.execute(outbox_insert(schema, items))


def outbox_insert(schema: str, items: Sequence[tuple[Topic, Message]]) -> Insert:
    """The INSERT that stages ``items`` (one multi-row VALUES), for callers that add their own
    data-modifying CTEs to it so that their rows and the messages take one round trip."""
    return insert(outbox_table(schema)).values(outbox_rows(items))


def outbox_rows(items: Sequence[tuple[Topic, Message]]) -> list[dict[str, Any]]:
    """The outbox rows (topic, key, payload, headers) staging ``items``, for a caller that writes
    them in a statement of its own."""
    headers = inject_headers()
    return [{"topic": t.name, "key": message["org_id"], "payload": message, "headers": headers} for t, message in items]


# One packed message: topic, key, headers, and the envelope as a JSON-ready dict.
PackedMessage = tuple[str, str | None, dict[str, str], dict[str, Any]]


async def stage_batch(session: AsyncSession, schema: str, messages: Sequence[PackedMessage]) -> None:
    """Stage many messages as one outbox row of the caller's transaction, relayed in their order.

    The row is JSON lines, two per message: ``[topic, key, headers]``, then the payload exactly as
    it will be published, so the relay sends it without decoding it (orjson never writes a newline).
    """
    if not messages:
        return
    await session.execute(insert(outbox_table(schema)), {"batch": pack_batch(messages)})


def pack_batch(messages: Sequence[PackedMessage]) -> bytes:
    """The ``batch`` of an outbox row holding ``messages`` (``stage_batch``'s format), for a caller
    that writes the row in a statement of its own."""
    lines: list[bytes] = []
    metas: dict[tuple[str, str | None, int], bytes] = {}  # the messages of one event share headers
    for topic, key, headers, env in messages:
        meta = metas.get((topic, key, id(headers)))
        if meta is None:
            meta = metas[topic, key, id(headers)] = orjson.dumps((topic, key, headers))
        lines.append(meta)
        lines.append(orjson.dumps(env))
    return b"\n".join(lines)


def unpack(batch: bytes) -> list[OutgoingMessage]:
    """The messages of a packed outbox row, payloads as the bytes staged."""
    lines = batch.split(b"\n")
    metas: dict[bytes, Any] = {}
    out = []
    for i in range(0, len(lines), 2):
        meta = metas.get(lines[i])
        if meta is None:
            meta = metas[lines[i]] = orjson.loads(lines[i])
        topic, key, headers = meta
        out.append(OutgoingMessage(topic, lines[i + 1], key, headers))
    return out


class OutboxRelay:
    """Publishes committed outbox rows in id order, then deletes them.

    ``FOR UPDATE SKIP LOCKED`` lets several replicas relay at once without sending a row twice.
    """

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        schema: str,
        *,
        batch: int = 500,
        max_bytes: int = 16 * 1024 * 1024,
        idle_s: float = 0.05,
    ):
        self.db, self.publisher, self.table = db, publisher, outbox_table(schema)
        self.batch, self.max_bytes, self.idle_s = batch, max_bytes, idle_s
        table = f'"{schema}".outbox'
        self._lock = text(
            f"SELECT id, coalesce(octet_length(batch), octet_length(payload::text)) AS size FROM {table} "
            "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
        )
        self._read = text(
            f"SELECT id, topic, key, payload::text AS payload, headers, batch FROM {table} "
            "WHERE id = ANY(:ids) ORDER BY id"
        )
        self._backlog_query = text(
            f"SELECT count(*) AS rows, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM {table}"
        )
        self.schema = schema
        self._wake = asyncio.Event()
        self._stopping = False
        self._backlog = False  # the last round left rows behind: go again at once
        self.healthy = True

    async def backlog(self) -> tuple[int, float]:
        """Rows waiting to be relayed and the age in seconds of the oldest (for ``/metrics``)."""
        async with self.db.transaction() as session:
            row = (await session.execute(self._backlog_query)).one()
        return int(row.rows), float(row.age)

    def wake(self) -> None:
        """Call after committing outbox rows, to relay them without waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        """Relay the oldest rows, up to ``batch`` rows and about ``max_bytes`` of packed messages."""
        async with self.db.transaction() as session:
            # Lock first, reading only sizes: a packed row can hold thousands of messages.
            locked = (await session.execute(self._lock, {"limit": self.batch})).all()
            ids: list[int] = []
            size = 0
            for row in locked:
                if ids and size + row.size > self.max_bytes:
                    break  # the rest stays for the next round (unlocked at commit)
                ids.append(row.id)
                size += row.size
            self._backlog = len(locked) == self.batch or len(ids) < len(locked)
            if not ids:
                return 0
            messages: list[OutgoingMessage] = []
            for r in await session.execute(self._read, {"ids": ids}):
                if r.batch is not None:
                    messages.extend(unpack(r.batch))
                else:  # the stored JSON text is published as it is, never decoded
                    messages.append(OutgoingMessage(r.topic, r.payload.encode(), r.key, r.headers or {}))
            await self.publisher.publish_many(messages)
            await session.execute(delete(self.table).where(self.table.c.id.in_(ids)))
        return len(messages)

    async def run(self) -> None:
        backoff = Backoff(0.1, 5.0)
        while not self._stopping:
            # Cleared before the round: a wake() while it runs starts the next one at once.
            self._wake.clear()
            try:
                await self.relay_once()
                self.healthy = True
                backoff.reset()
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("outbox relay failed")
                self.healthy = False
                await asyncio.sleep(backoff.next())
                continue
            if not self._backlog:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_s)
