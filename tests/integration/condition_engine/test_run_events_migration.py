"""Migration 0004 moves each run's event JSON into run_events (once per org and event): runs made
before it read the same through the API, and a downgrade puts the copies back."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from condition_engine import service
from playbooks_dev.embedded import drop_database, ensure_database
from playbooks_dev.testing import Infra
from playbooks_platform.migrations import alembic_config
from playbooks_platform.service import load_spec


async def test_existing_runs_keep_their_event_through_0004_and_back(infra: Infra) -> None:
    await infra.migrate(load_spec("condition-engine"))  # the session's own: it creates the tenant role once
    name = f"mig_{uuid.uuid4().hex[:10]}"
    url = await ensure_database(infra.database_url, name)
    engine = create_async_engine(url)
    try:
        cfg = alembic_config("condition_engine", url)
        await asyncio.to_thread(command.upgrade, cfg, "0003")
        pb, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        runs = [uuid.uuid4() for _ in range(3)]
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO condition_engine.playbooks (id, org_id, name, trigger, conditions, actions, status) "
                    "VALUES (:pb, 'acme', 'p', 'activity_event', '[]', '[]', 'active')"
                ),
                {"pb": pb},
            )
            for run, event, doc in ((runs[0], first, '{"n": 1}'), (runs[1], second, '{"n": 2}')):
                await conn.execute(
                    text(
                        "INSERT INTO condition_engine.playbook_runs "
                        "(id, playbook_id, org_id, event_id, trigger_event, status, metrics) "
                        "VALUES (:id, :pb, 'acme', :ev, CAST(:doc AS jsonb), 'success', '{\"category\": \"other\"}')"
                    ),
                    {"id": run, "pb": pb, "ev": event, "doc": doc},
                )
            # the same event id in another org is another event, with its own JSON
            await conn.execute(
                text(
                    "INSERT INTO condition_engine.playbooks (id, org_id, name, trigger, conditions, actions, status) "
                    "VALUES (:pb, 'other', 'p', 'activity_event', '[]', '[]', 'active')"
                ),
                {"pb": runs[2]},
            )
            await conn.execute(
                text(
                    "INSERT INTO condition_engine.playbook_runs "
                    "(id, playbook_id, org_id, event_id, trigger_event, status, metrics) "
                    "VALUES (:id, :id, 'other', :ev, '{\"n\": 3}', 'skipped', '{}')"
                ),
                {"id": runs[2], "ev": first},
            )

        await asyncio.to_thread(command.upgrade, cfg, "head")
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT org_id, event_id, trigger_event FROM condition_engine.run_events ORDER BY org_id")
                )
            ).all()
            columns = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'condition_engine' "
                    "AND table_name = 'playbook_runs' AND column_name = 'trigger_event'"
                )
            )
        assert columns == 0
        assert sorted((r.org_id, r.trigger_event["n"]) for r in stored) == [("acme", 1), ("acme", 2), ("other", 3)]
        async with AsyncSession(engine) as session:
            page, _ = await service.list_runs(session=session, org_id="acme")
            assert sorted(r.trigger_event["n"] for r in page) == [1, 2]
            row = await service.get_run(session=session, org_id="other", run_id=runs[2])
            assert row.trigger_event == {"n": 3} and row.event_id == first

        await asyncio.to_thread(command.downgrade, cfg, "0003")
        async with engine.connect() as conn:
            back = dict(
                (await conn.execute(text("SELECT id, trigger_event->>'n' FROM condition_engine.playbook_runs"))).all()
            )
        assert back == {runs[0]: "1", runs[1]: "2", runs[2]: "3"}
    finally:
        await engine.dispose()
        await drop_database(infra.database_url, name)
