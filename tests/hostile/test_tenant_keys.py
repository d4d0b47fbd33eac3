"""Every idempotency and dedupe key is per org: two orgs sending the same message id are both processed.

Producers choose event ids (an upstream system, an HTTP caller, another service), so one org can send
the id another org will use next. Keyed by id alone, the first would make the second look like a
redelivery and silently drop it (reproduced on exception-playbook's ``processed_events``). Each test
sends the same id for two orgs to one consumer, on the real broker and PostgreSQL, and checks both
were processed, then that a true redelivery still is not.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agent_review import agent_service
from sqlalchemy import text

from playbooks_contracts import Envelope
from playbooks_contracts.topics import (
    PLAYBOOK_EXECUTIONS,
    PLAYBOOK_RUNS,
    RUNBOOK_REQUESTS,
    RUNBOOKS_COMPILED,
    TRIGGERS,
    UPSTREAM_EXCEPTIONS,
)
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.service import Runtime


def two_orgs(org: str) -> tuple[str, str]:
    return org, f"{org}-b"


async def rows(runtime: Runtime, sql: str, **params: Any) -> list[Any]:
    async with runtime.database.transaction() as session:
        return list((await session.execute(text(sql), params)).all())


# -- trigger-ingest: upstream topics -> triggers.v1 -------------------------------------------------


async def test_trigger_ingest_dedupes_upstream_ids_per_org(infra: Infra, org: str) -> None:
    a, b = two_orgs(org)
    event_id = str(uuid.uuid4())

    def raw(o: str) -> dict[str, Any]:
        return {"orgId": o, "id": event_id, "domain": "Claims", "exceptionType": "late", "severity": "low"}

    async with running_service("trigger-ingest", infra) as (client, _runtime, _app):
        # org A first (twice: a true redelivery), then org B with the same id
        await produce(infra.kafka_bootstrap, UPSTREAM_EXCEPTIONS.name, [raw(a), raw(a), raw(b)])
        published = await collect(
            infra.kafka_bootstrap, TRIGGERS.name, where=lambda r: r.value["id"] == event_id, count=2, settle=1.5
        )
        assert sorted(m.value["org_id"] for m in published) == sorted([a, b])

        # Over HTTP too: the same explicit id, and the same Idempotency-Key, in two orgs
        http_id = str(uuid.uuid4())
        for body, key in (({"id": http_id, "activity": {"type": "x"}}, None), ({"activity": {"type": "y"}}, "k-1")):
            answers = []
            for o in (a, a, b):
                headers = infra.auth(o) | ({"Idempotency-Key": key} if key else {})
                r = await client.post("/v1/events/activity_event", json=body, headers=headers)
                assert r.status_code == 202, r.text
                answers.append(r.json()["duplicate"])
            assert answers == [False, True, False]  # the repeat in org A only


# -- condition-engine: triggers.v1 -> playbook runs -------------------------------------------------


async def test_condition_engine_runs_the_same_event_id_for_each_org(infra: Infra, org: str) -> None:
    a, b = two_orgs(org)
    event_id = uuid.uuid4()
    async with running_service("condition-engine", infra) as (client, runtime, _app):
        playbooks = {}
        for o in (a, b):
            r = await client.post(
                "/api/playbook-templates/contract-signed-renewal-reminder/playbooks",
                json={"status": "active"},
                headers=infra.auth(o),
            )
            assert r.status_code == 201, r.text
            playbooks[o] = r.json()["id"]

        def event(o: str) -> dict[str, Any]:
            data = {"activity": {"type": "contract_signed"}}
            return Envelope(id=event_id, type="activity_event", org_id=o, source="test", data=data).model_dump(
                mode="json"
            )

        await produce(infra.kafka_bootstrap, TRIGGERS.name, [event(a), event(a)], key=a)
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [event(b)], key=b)
        records = await collect(
            infra.kafka_bootstrap,
            PLAYBOOK_RUNS.name,
            where=lambda r: r.value["data"]["event_id"] == str(event_id),
            count=2,
            settle=1.5,
        )
        assert sorted((m.value["org_id"], run["status"]) for m in records for run in m.value["data"]["runs"]) == sorted(
            [(a, "success"), (b, "success")]
        )
        stored = await rows(
            runtime,
            "SELECT org_id, playbook_id::text FROM condition_engine.playbook_runs WHERE event_id = :e",
            e=event_id,
        )
        assert sorted(stored) == sorted([(a, playbooks[a]), (b, playbooks[b])])


# -- exception-playbook: triggers.v1 -> exceptions --------------------------------------------------


async def test_exception_playbook_applies_the_same_event_id_for_each_org(infra: Infra, org: str) -> None:
    """The reproduced cross-tenant suppression: org A's event id no longer hides org B's exception."""
    a, b = two_orgs(org)
    event_id = uuid.uuid4()

    def event(o: str) -> dict[str, Any]:
        data = {"domain": "Claims", "exception_type": "late", "severity": "low", "exception_id": f"EXC-{o}"}
        return Envelope(id=event_id, type="exception", org_id=o, source="test", data=data).model_dump(mode="json")

    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [event(a), event(a)], key=a)
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [event(b)], key=b)
        for o in (a, b):

            async def found(o: str = o) -> bool:
                r = await client.get(f"/api/exceptions/EXC-{o}", headers=infra.auth(o))
                return r.status_code == 200

            await eventually(found)
        stored = await rows(
            runtime, "SELECT tenant_id FROM exception_playbook.processed_events WHERE event_id = :e", e=event_id
        )
        assert sorted(t for (t,) in stored) == sorted([a, b])
        created = await rows(
            runtime,
            "SELECT tenant_id FROM exception_playbook.exceptions WHERE external_id IN (:x, :y)",
            x=f"EXC-{a}",
            y=f"EXC-{b}",
        )
        assert sorted(t for (t,) in created) == sorted([a, b])  # the redelivery made no second one


# -- recommendation-agent: playbook-executions.v1 and runbooks.compiled.v1 --------------------------


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    async with agent_service(infra, tmp_path_factory.mktemp("agent")) as service:
        yield service


async def test_recommendation_agent_counts_the_same_run_id_for_each_org(agent, infra: Infra, org: str) -> None:
    _client, runtime = agent
    a, b = two_orgs(org)
    message_id, run_id = uuid.uuid4(), f"run-{uuid.uuid4().hex[:8]}"

    def executed(o: str) -> dict[str, Any]:
        data = {"playbook_id": "aws-rds-stop", "version": "1.0.0", "run_id": run_id, "success": True}
        return Envelope(id=message_id, type="playbook.executed", org_id=o, source="test", data=data).model_dump(
            mode="json"
        )

    await produce(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, [executed(a), executed(a)], key=a)
    await produce(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, [executed(b)], key=b)

    async def counted() -> list[Any] | None:
        found = await rows(
            runtime,
            "SELECT org_id, success_count FROM recommendation_agent.execution_stats "
            "WHERE org_id IN (:a, :b) AND playbook_id = 'aws-rds-stop'",
            a=a,
            b=b,
        )
        return found if len(found) == 2 else None

    # each org's one execution counted once: the redelivery did not count, the other org's id did
    assert sorted(await eventually(counted, timeout=30)) == sorted([(a, 1), (b, 1)])


async def test_recommendation_agent_takes_the_same_compiled_message_for_each_org(agent, infra: Infra, org: str) -> None:
    _client, runtime = agent
    a, b = two_orgs(org)
    message_id, pid = uuid.uuid4(), f"compiled-{uuid.uuid4().hex[:8]}"
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "restart pods", "governance": {"allowed_commands": ["kubectl"]}},
        "steps": [{"id": "list", "type": "cli", "title": "List pods", "with": {"argv": ["kubectl", "get", "pods"]}}],
    }

    def compiled(o: str) -> dict[str, Any]:
        data = {"playbook_id": pid, "version": "1.0.0", "name": "Restart pods", "runbook": runbook}
        return Envelope(id=message_id, type="runbook.compiled", org_id=o, source="test", data=data).model_dump(
            mode="json"
        )

    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled(a), compiled(a)], key=a)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled(b)], key=b)

    async def published() -> list[Any] | None:
        found = await rows(
            runtime, "SELECT org_id, status FROM recommendation_agent.playbook_versions WHERE playbook_id = :p", p=pid
        )
        return found if len(found) == 2 else None

    assert sorted(await eventually(published, timeout=30)) == sorted([(a, "pending_review"), (b, "pending_review")])


# -- runbook-runtime: runbooks.compiled.v1 and runbook-requests.v1 -> runs --------------------------


async def test_runbook_runtime_runs_the_same_request_id_for_each_org(infra: Infra, org: str) -> None:
    a, b = two_orgs(org)
    compiled_id, request_id = uuid.uuid4(), uuid.uuid4()
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "hello", "vars": {"who": "world"}, "governance": {"allowed_commands": ["echo"]}},
        "steps": [{"id": "hi", "type": "cli", "with": {"argv": ["echo", "hi {{ .who }}"]}}],
    }

    def compiled(o: str) -> dict[str, Any]:
        data = {"playbook_id": "hello", "version": "1", "name": "hello", "runbook": runbook}
        return Envelope(id=compiled_id, type="runbook.compiled", org_id=o, source="test", data=data).model_dump(
            mode="json"
        )

    def requested(o: str) -> dict[str, Any]:
        data = {"request_id": "same-key", "runbook_id": "hello", "runbook_version": "1", "vars": {"who": o}}
        return Envelope(id=request_id, type="runbook.requested", org_id=o, source="test", data=data).model_dump(
            mode="json"
        )

    async with running_service("runbook-runtime", infra) as (client, runtime, _app):
        await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled(a), compiled(a)], key=a)
        await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled(b)], key=b)

        async def published() -> list[Any] | None:
            found = await rows(
                runtime,
                "SELECT org_id FROM runbook_runtime.published_runbooks "
                "WHERE runbook_id = 'hello' AND org_id IN (:a, :b)",
                a=a,
                b=b,
            )
            return found if len(found) == 2 else None

        await eventually(published)
        await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [requested(a), requested(a)], key=a)
        await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [requested(b)], key=b)
        for o in (a, b):

            async def planned(o: str = o) -> list[Any] | None:
                found = (await client.get("/v1/runs", headers=infra.auth(o))).json()["items"]
                return found or None

            [run] = await eventually(planned)  # one run per org: the redelivery found the same run
            assert run["status"] == "planned" and run["vars"] == {"who": o}
