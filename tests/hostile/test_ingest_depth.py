"""What trigger-ingest accepts, every consumer handles (issue 18, part 4).

Metadata nested 253 deep was accepted (202) and then dead-lettered by condition-engine, which could
not serialise it: the event never ran. The limit is one constant, ``MAX_JSON_DEPTH`` in the
contracts; the edge refuses one level more over HTTP (422 naming it) and dead-letters it from
upstream topics (the reason naming it), and the deepest accepted event runs through trigger-ingest,
``triggers.v1``, condition-engine and exception-playbook without a dead letter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from healthz_probe import HEALTHZ_BOUND_S, healthz_watch  # tests/hostile is on sys.path (no __init__.py)

from playbooks_contracts.base import MAX_JSON_DEPTH
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service

LIMIT = f"nested deeper than the limit of {MAX_JSON_DEPTH} levels"


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` deep ({} is one level), with a value at the bottom."""
    value: dict[str, Any] = {"leaf": "x"}
    for i in range(levels - 1):
        value = {f"k{i}": value}
    return value


class Stack:
    def __init__(self, ingest: httpx.AsyncClient, engine: httpx.AsyncClient, exceptions: httpx.AsyncClient) -> None:
        self.ingest, self.engine, self.exceptions = ingest, engine, exceptions


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    async with (
        running_service("trigger-ingest", infra) as (ingest, _, _),
        running_service("condition-engine", infra) as (engine, _, _),
        running_service("exception-playbook", infra) as (exceptions, _, _),
    ):
        # One request per route first: FastAPI builds a route's handling on its first request (a
        # few hundred ms on a busy host), once per process, which is not what the probe measures.
        auth = infra.auth("warm-up")
        for path in ("/v1/events/activity_event", "/v1/events/accounts_pack_run", "/v1/events/exception"):
            assert (await ingest.post(path, json={}, headers=auth)).status_code == 422
        assert (await ingest.post("/v1/events:batch", json={}, headers=auth)).status_code == 422
        yield Stack(ingest, engine, exceptions)


async def no_dead_letters(infra: Infra, topic: str, org: str) -> None:
    dead = await collect(infra.kafka_bootstrap, topic, where=lambda r: r.key == org, count=1, timeout=3)
    assert dead == [], [d.headers.get("dlq.error") for d in dead]


async def test_the_deepest_accepted_event_runs_through_every_consumer(stack: Stack, infra: Infra, org: str) -> None:
    auth = infra.auth(org)
    r = await stack.engine.post(
        "/api/playbooks",
        json={
            "name": "Deep metadata",
            "status": "active",
            "trigger": "activity_event",
            "conditions": [{"field": "activity.type", "op": "equals", "value": "deep_event"}],
            "actions": [{"type": "log_activity", "params": {"type": "deep_seen", "metadata": {"doc": "d"}}}],
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    deepest = nested(MAX_JSON_DEPTH)

    # Over HTTP and from an upstream topic: both accepted, both run.
    r = await stack.ingest.post(
        "/v1/events/activity_event", json={"activity": {"type": "deep_event", "metadata": deepest}}, headers=auth
    )
    assert r.status_code == 202, r.text
    upstream_id = str(uuid.uuid4())
    raw = {"org_id": org, "id": upstream_id, "activity": {"type": "deep_event", "metadata": deepest}}
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [raw], key=org)

    async def two_runs() -> list[dict[str, Any]] | None:
        found = (await stack.engine.get("/api/playbook-runs", headers=auth)).json()["items"]
        return found if len(found) >= 2 else None

    runs = await eventually(two_runs)
    assert {run["eventId"] for run in runs} == {r.json()["id"], upstream_id}
    for run in runs:
        assert run["status"] == "success", run
        assert run["triggerEvent"]["activity"]["metadata"] == deepest

    # exception-playbook: an exception whose attributes are as deep as accepted.
    r = await stack.ingest.post(
        "/v1/events/exception",
        json={
            "exception_id": "DEEP-1",
            "domain": "Claims",
            "exception_type": "Deep",
            "severity": "low",
            "attributes": deepest,
        },
        headers=auth,
    )
    assert r.status_code == 202, r.text

    async def created() -> dict[str, Any] | None:
        got = await stack.exceptions.get("/api/exceptions/DEEP-1", headers=auth)
        return got.json() if got.status_code == 200 else None

    exception = await eventually(created)
    assert exception["attributes"] == deepest
    await no_dead_letters(infra, f"{TRIGGERS.name}.dlq", org)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 253])
async def test_one_level_more_is_refused_at_the_edge_naming_the_limit(
    stack: Stack, infra: Infra, org: str, levels: int
) -> None:
    auth = infra.auth(org)
    too_deep = nested(levels)
    bodies = {
        "activity_event": {"activity": {"type": "deep_event", "metadata": too_deep}},
        "accounts_pack_run": {"metrics": too_deep},
        "exception": {"domain": "Claims", "exception_type": "Deep", "severity": "low", "attributes": too_deep},
    }
    async with healthz_watch(stack.ingest) as worst:
        for trigger, body in bodies.items():
            r = await stack.ingest.post(f"/v1/events/{trigger}", json=body, headers=auth)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert LIMIT in r.json()["detail"], r.json()["detail"]
        batch = {"events": [{"trigger": "activity_event", **bodies["activity_event"]}]}
        r = await stack.ingest.post("/v1/events:batch", json=batch, headers=auth)
        assert r.status_code == 422 and LIMIT in r.json()["detail"], r.text
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms"


async def test_far_deeper_json_is_a_4xx_not_a_500(stack: Stack, infra: Infra, org: str) -> None:
    body = '{"activity": {"type": "x", "metadata": ' + '{"a": ' * 5000 + "{}" + "}" * 5000 + "}}"
    headers = infra.auth(org) | {"content-type": "application/json"}
    async with healthz_watch(stack.ingest) as worst:
        r = await stack.ingest.post("/v1/events/activity_event", content=body, headers=headers)
    assert 400 <= r.status_code < 500, r.text
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms"


async def test_too_deep_upstream_events_are_dead_lettered_with_the_reason(stack: Stack, infra: Infra, org: str) -> None:
    raw = {"org_id": org, "activity": {"type": "deep_event", "metadata": nested(MAX_JSON_DEPTH + 1)}}
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [raw], key=org)
    [dead] = await collect(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.dlq, where=lambda r: r.key == org)
    assert LIMIT in dead.headers["dlq.error"], dead.headers["dlq.error"]
    # Nothing reached triggers.v1 for it.
    published = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=lambda r: r.key == org, timeout=2)
    assert published == []
