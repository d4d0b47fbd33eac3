"""Each event is stored once per (org, event) in ``run_events``, the claim for its runs: no org
reads, writes or blocks another's.

Producers choose event ids, so an org that learns another org's event id can send an event with
the same id. Its own claim is its own (the key includes the org): the other org's runs still
happen, each run shows its own org's event, and row-level security keeps the table's rows apart
even for a query with no ``WHERE org_id`` at all.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from playbooks_contracts import Envelope
from playbooks_contracts.topics import TRIGGERS
from playbooks_dev.testing import Infra, eventually, produce, running_service

PLAYBOOK = {
    "name": "on signature",
    "trigger": "activity_event",
    "conditions": [{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
    "actions": [{"type": "log_activity", "params": {"type": "seen"}}],
    "status": "active",
}


async def _runs(client: httpx.AsyncClient, infra: Infra, org: str, count: int) -> list[dict]:
    async def check() -> list[dict] | None:
        r = await client.get("/api/playbook-runs", headers=infra.auth(org))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items if len(items) >= count else None

    return await eventually(check, timeout=30)


async def test_another_org_cannot_read_write_or_preempt_an_orgs_stored_event(infra: Infra, org: str) -> None:
    intruder = f"{org}-intruder"
    shared_id = uuid.uuid4()
    async with running_service("condition-engine", infra) as (client, runtime, _app):
        for who in (org, intruder):
            r = await client.post("/api/playbooks", json=PLAYBOOK, headers=infra.auth(who))
            assert r.status_code == 201, r.text
        # The intruder sends the victim's event id first, hoping its claim blocks the victim's runs.
        mine = Envelope(
            id=shared_id, type="activity_event", org_id=intruder, data={"activity": {"type": "contract_signed"}}
        )
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [mine.model_dump(mode="json")], key=intruder)
        await _runs(client, infra, intruder, 1)
        victims = Envelope(
            id=shared_id,
            type="activity_event",
            org_id=org,
            data={"activity": {"type": "contract_signed", "metadata": {"secret": "victim's"}}},
        )
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [victims.model_dump(mode="json")], key=org)
        [run] = await _runs(client, infra, org, 1)
        assert run["status"] == "success" and run["eventId"] == str(shared_id)
        assert run["triggerEvent"]["activity"]["metadata"] == {"secret": "victim's"}
        [theirs] = await _runs(client, infra, intruder, 1)
        assert theirs["triggerEvent"]["activity"]["metadata"] == {}  # its own event, not the victim's
        r = await client.get(f"/api/playbook-runs/{run['id']}", headers=infra.auth(intruder))
        assert r.status_code == 404

        # Row-level security, with no WHERE org_id: the intruder's session sees its own event only.
        everything = text("SELECT org_id, trigger_event::text FROM condition_engine.run_events")
        async with runtime.database.tenant_transaction(intruder) as session:
            rows = (await session.execute(everything)).all()
            assert [r.org_id for r in rows] == [intruder] and "victim" not in rows[0][1]
            by_id = text("SELECT count(*) FROM condition_engine.run_events WHERE event_id = :e")
            assert await session.scalar(by_id, {"e": shared_id}) == 1
        async with runtime.database.tenant_transaction(intruder) as session:
            # Nor can it change or remove the victim's stored event, or claim an event in its name.
            changed = await session.execute(
                text("UPDATE condition_engine.run_events SET trigger_event = '{}'::jsonb WHERE org_id = :o"), {"o": org}
            )
            assert changed.rowcount == 0
            deleted = await session.execute(
                text("DELETE FROM condition_engine.run_events WHERE org_id = :o"), {"o": org}
            )
            assert deleted.rowcount == 0
            with pytest.raises(Exception, match="row-level security"):
                await session.execute(
                    text(
                        "INSERT INTO condition_engine.run_events (org_id, event_id, trigger_event) "
                        "VALUES (:o, :e, '{}'::jsonb)"
                    ),
                    {"o": org, "e": uuid.uuid4()},
                )
        async with runtime.database.tenant_transaction(org) as session:
            stored = await session.scalar(
                text("SELECT trigger_event->'activity'->'metadata'->>'secret' FROM condition_engine.run_events")
            )
            assert stored == "victim's"
