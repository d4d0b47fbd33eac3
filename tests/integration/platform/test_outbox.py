"""The outbox relay over real PostgreSQL and broker: single and packed rows, in order, bounded rounds."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from playbooks_contracts.topics import PLAYBOOK_RUNS
from playbooks_dev.testing import Infra, collect
from playbooks_platform import messages
from playbooks_platform.bus import Publisher
from playbooks_platform.db import Database
from playbooks_platform.outbox import OutboxRelay, add_to_outbox, outbox_table, stage_batch
from playbooks_platform.service import load_spec

SCHEMA = "condition_engine"  # any service schema with an outbox


def packed(run: str, start: int, n: int) -> list:
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    return [
        (PLAYBOOK_RUNS.name, f"org-{run}", headers, {"run": run, "seq": i, "text": 'a "quoted"\nline'})
        for i in range(start, start + n)
    ]


def body(value: dict) -> dict:
    """A packed test message is its own body; the single one is an envelope around it."""
    return value.get("data", value)


async def test_packed_and_single_rows_are_relayed_in_order_within_the_byte_budget(infra: Infra) -> None:
    await infra.migrate(load_spec("condition-engine"))
    run = uuid.uuid4().hex[:8]
    db = Database(infra.database_url)
    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:
        async with db.transaction() as session:
            await stage_batch(session, SCHEMA, packed(run, 0, 300))
        async with db.transaction() as session:
            single = messages.new(
                type="playbook_run.recorded", org_id=f"org-{run}", source="test", data={"run": run, "seq": 300}
            )
            await add_to_outbox(session, SCHEMA, [(PLAYBOOK_RUNS, single)])
        async with db.transaction() as session:
            await stage_batch(session, SCHEMA, packed(run, 301, 200))
        # A budget below one packed row: each round still takes one row, never stalls.
        relay = OutboxRelay(db, publisher, SCHEMA, max_bytes=1)
        assert [await relay.relay_once() for _ in range(4)] == [300, 1, 200, 0]
        async with db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(outbox_table(SCHEMA))) == 0
    finally:
        await publisher.stop()
        await db.dispose()
    got = await collect(
        infra.kafka_bootstrap, PLAYBOOK_RUNS.name, where=lambda r: body(r.value)["run"] == run, count=501
    )
    in_order = sorted(got, key=lambda r: r.offset)
    assert [body(r.value)["seq"] for r in in_order] == list(range(501))  # one key, one partition: the outbox's order
    first = in_order[0]
    assert first.value["text"] == 'a "quoted"\nline' and first.headers["traceparent"].startswith("00-0af7")
