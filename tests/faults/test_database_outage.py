"""PostgreSQL goes away under a running consumer: nothing is lost, skipped or doubled.

The service gets its own embedded PostgreSQL so the test can stop and start it; the broker is
the session's.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.embedded import EmbeddedPostgres, ensure_database, free_port
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service


def events(org: str, n: int) -> tuple[list[str], list[dict]]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    return ids, [{"orgId": org, "id": i, "activity": {"type": "contract_signed", "doc_id": i}} for i in ids]


async def test_consumer_waits_out_a_database_outage(infra: Infra, org: str, tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", free_port(), durable=False)
    await asyncio.to_thread(pg.start)
    try:
        own = Infra(await ensure_database(pg.url, "outage"), infra.kafka_bootstrap)
        async with running_service(
            "trigger-ingest", own, consumer_max_attempts=2, consumer_group_prefix=f"outage-{org}-"
        ) as (client, runtime, _):
            before, batch1 = events(org, 20)
            await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, batch1, key=org)
            await collect(infra.kafka_bootstrap, TRIGGERS.name, where=lambda r: r.key == org, count=20)

            await asyncio.to_thread(pg.stop)
            during, batch2 = events(org, 20)
            await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, batch2, key=org)

            async def not_ready() -> dict | None:
                r = await client.get("/readyz")
                body = r.json()
                unhealthy_consumer = any(k.startswith("consumer:") and v != "ok" for k, v in body["checks"].items())
                return body if r.status_code == 503 and unhealthy_consumer else None

            body = await eventually(not_ready, timeout=20)
            assert body["checks"]["database"] != "ok"

            await asyncio.to_thread(pg.start)

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=30)
            got = await collect(
                infra.kafka_bootstrap, TRIGGERS.name, where=lambda r: r.key == org, count=40, timeout=30, settle=2
            )
            ids = [r.value["id"] for r in got]
            assert sorted(ids) == sorted(before + during)  # every event once: none lost, none doubled
            assert all(runner.healthy for runner in runtime.consumers)
            # Retried, not dead-lettered: a database outage is not the messages' fault.
            dlq = UPSTREAM_ACTIVITY_EVENTS.dlq
            assert not await collect(infra.kafka_bootstrap, dlq, where=lambda r: org in str(r.value), timeout=2)
    finally:
        await asyncio.to_thread(pg.stop)
