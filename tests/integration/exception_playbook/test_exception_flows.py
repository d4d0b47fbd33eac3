"""exception-playbook beyond HTTP: triggers.v1 in, compare-and-set under real row locks, outbox out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from exception_playbook import flows, playbook_runs
from exception_playbook.playbook_runs import Actor
from playbooks_contracts import Envelope, utcnow
from playbooks_contracts.topics import EXCEPTION_EVENTS, TRIGGERS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.errors import Conflict

STEPS = [
    {"name": "Comment", "action_type": "add_comment", "params": {"text_template": "seen ${claim}"}},
    {"name": "Own", "action_type": "assign_owner", "params": {"user_id": "ana"}},
]


@pytest.fixture(scope="module")
async def svc(infra: Infra):
    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        yield client, runtime


def trigger(org: str, **data: Any) -> Envelope:
    body = {"domain": "Claims", "exception_type": "Duplicate Claim", "severity": "low", "attributes": {"claim": "C-9"}}
    return Envelope(type="exception", org_id=org, source="trigger-ingest", data=body | data)


async def send(infra: Infra, org: str, *events: Envelope) -> None:
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [e.model_dump(mode="json") for e in events], key=org)


async def playbook(client: Any, infra: Infra, org: str, name: str, severities: list[str], priority: int = 0) -> str:
    r = await client.post(
        "/api/playbooks",
        json={"name": name, "conditions": {"match": {"severity_in": severities}, "priority": priority}, "steps": STEPS},
        headers=infra.auth(org),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["playbook_id"])


async def exception_of(client: Any, infra: Infra, org: str, ref: str, **expect: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/api/exceptions/{ref}", headers=infra.auth(org))
        if r.status_code != 200:
            return None
        body = r.json()
        return body if all(body.get(k) == v for k, v in expect.items()) else None

    return await eventually(check)


async def events_of(client: Any, infra: Infra, org: str, exception_id: str) -> list[str]:
    r = await client.get(f"/api/exceptions/{exception_id}/events", headers=infra.auth(org))
    return [e["event_type"] for e in r.json()["items"]]


async def test_exception_events_from_the_bus_create_update_and_rematch(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    low = await playbook(client, infra, org, "low", ["low"])
    high = await playbook(client, infra, org, "high", ["high", "critical"])
    created = trigger(org, exception_id="CLM-1")
    await send(infra, org, created, created)  # a duplicate in the same batch
    exc = await exception_of(client, infra, org, "CLM-1", current_playbook_id=low)
    assert exc["severity"] == "low" and exc["attributes"] == {"claim": "C-9"}

    # an activity event on the same topic is not ours
    other = Envelope(type="activity_event", org_id=org, source="t", data={"activity": {"type": "x"}})
    raised = trigger(org, exception_id="CLM-1", severity="critical")
    await send(infra, org, other, raised)
    exc = await exception_of(client, infra, org, "CLM-1", current_playbook_id=high)
    assert exc["severity"] == "critical" and exc["current_step"] == 1
    await send(infra, org, raised, created)  # redelivered, and an old one: neither changes anything
    marker = trigger(org, exception_id="CLM-1", severity="critical", summary="marker")
    await send(infra, org, marker)
    exc = await exception_of(client, infra, org, "CLM-1", summary="marker")
    assert exc["severity"] == "critical" and exc["current_playbook_id"] == high
    assert await events_of(client, infra, org, exc["id"]) == [
        "ExceptionCreated",
        "PlaybookStarted",
        "ExceptionUpdated",
        "PlaybookRecalculated",
        "PlaybookStarted",
        "ExceptionUpdated",
    ]
    published = await collect(
        infra.kafka_bootstrap,
        EXCEPTION_EVENTS.name,
        where=lambda r: r.key == org and r.value["data"]["exception_id"] == exc["id"],
        count=6,
    )
    assert published[0].value["causation_id"] == str(created.id) and published[0].value["depth"] == 1
    # an event without an upstream id is an exception of its own
    lone = trigger(org, severity="high")
    await send(infra, org, lone)
    await exception_of(client, infra, org, str(lone.id), current_playbook_id=high)


async def test_severity_change_keeps_a_playbook_in_progress(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    low = await playbook(client, infra, org, "low", ["low"])
    await playbook(client, infra, org, "high", ["high"])
    await send(infra, org, trigger(org, exception_id="CLM-2"))
    exc = await exception_of(client, infra, org, "CLM-2", current_playbook_id=low)
    r = await client.post(f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", json={}, headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["steps"][0]["status"] == "completed"
    await send(infra, org, trigger(org, exception_id="CLM-2", severity="high"))
    exc = await exception_of(client, infra, org, "CLM-2", severity="high")
    assert exc["current_playbook_id"] == low and exc["current_step"] == 2


async def test_compare_and_set_lets_exactly_one_of_two_overlapping_completions_commit(
    svc, infra: Infra, org: str
) -> None:
    client, runtime = svc
    await playbook(client, infra, org, "any", ["low", "medium", "high", "critical"])
    r = await client.post(
        "/api/exceptions",
        json={"domain": "Claims", "exception_type": "x", "severity": "low", "attributes": {"claim": "C-1"}},
        headers=infra.auth(org),
    )
    exception_id = uuid.UUID(r.json()["id"])
    db = runtime.database
    first_loaded = asyncio.Event()

    async def second() -> Any:
        await first_loaded.wait()
        async with db.tenant_transaction(org) as session:
            # reads the same version as the first (not yet committed), then waits on its row lock
            return await playbook_runs.complete_step(
                session=session, tenant_id=org, exception_id=exception_id, step_order=1, actor=Actor("human", "b")
            )

    task = asyncio.create_task(second())
    async with db.tenant_transaction(org) as session:
        await playbook_runs.complete_step(
            session=session, tenant_id=org, exception_id=exception_id, step_order=1, actor=Actor("human", "a")
        )
        first_loaded.set()
        await asyncio.sleep(0.3)  # the second completion is now blocked behind this transaction
    with pytest.raises(Conflict, match="another request got there first"):
        await task
    types = await events_of(client, infra, org, str(exception_id))
    assert types.count("PlaybookStepCompleted") == 1


async def test_recalculate_service_is_idempotent(svc, infra: Infra, org: str) -> None:
    client, runtime = svc
    pb = await playbook(client, infra, org, "any", ["low"])
    r = await client.post(
        "/api/exceptions",
        json={
            "domain": "Claims",
            "exception_type": "x",
            "severity": "low",
            "sla_deadline": (utcnow() + timedelta(hours=1)).isoformat(),
        },
        headers=infra.auth(org),
    )
    exception_id = uuid.UUID(r.json()["id"])
    cache = flows.candidate_cache(runtime)
    for _ in range(2):
        async with runtime.database.tenant_transaction(org) as session:
            outcome = await playbook_runs.recalculate(
                session=session, tenant_id=org, exception_id=exception_id, cache=cache
            )
        assert outcome.changed is False and str(outcome.exception.current_playbook_id) == pb
    assert await events_of(client, infra, org, str(exception_id)) == ["ExceptionCreated", "PlaybookStarted"]
