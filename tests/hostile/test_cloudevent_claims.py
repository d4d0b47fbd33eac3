"""CloudEvents from an attacker: another org's claim, a wrong specversion, huge or deep data.

Over HTTP each is a 4xx problem naming what is wrong, and nothing is published; from an upstream
topic each goes to the dead-letter topic with the reason. The org is never taken from the event.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from playbooks_contracts.base import MAX_JSON_DEPTH
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, collect, produce, running_service

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture(scope="module")
async def ingest(infra: Infra):
    async with running_service("trigger-ingest", infra) as (client, _runtime, _app):
        yield client


def event(**over: Any) -> dict[str, Any]:
    base = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/attacker",
        "type": "activity_event",
        "data": {"activity": {"type": "x"}},
    }
    return base | over


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for i in range(levels - 1):
        value = {f"k{i}": value}
    return value


async def nothing_published(infra: Infra, org: str) -> None:
    assert await collect(infra.kafka_bootstrap, TRIGGERS.name, where=lambda r: r.key == org, timeout=1) == []


async def post(ingest, infra: Infra, org: str, body: Any, headers: dict[str, str] = STRUCTURED):
    r = await ingest.post("/v1/cloudevents", content=orjson.dumps(body), headers=infra.auth(org) | headers)
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r


@pytest.mark.parametrize("claim", ["orgid", "tenantid", "org", "tenant"])
async def test_an_event_claiming_another_org_is_refused(ingest, infra: Infra, org: str, claim: str) -> None:
    r = await post(ingest, infra, org, event(**{claim: "org-victim"}))
    assert r.status_code == 403
    assert "org-victim" in r.json()["detail"] and "never from the event" in r.json()["detail"]
    await nothing_published(infra, org)


async def test_a_batch_with_one_foreign_event_publishes_none(ingest, infra: Infra, org: str) -> None:
    r = await post(ingest, infra, org, [event(), event(orgid="org-victim")], BATCH)
    assert r.status_code == 403 and r.json()["detail"].startswith("event 1:")
    await nothing_published(infra, org)


async def test_the_org_cannot_be_smuggled_in_the_data(ingest, infra: Infra, org: str) -> None:
    for key in ("org_id", "orgId"):
        r = await post(ingest, infra, org, event(data={key: "org-victim", "activity": {"type": "x"}}))
        assert r.status_code == 422 and key in r.json()["detail"], r.text
    await nothing_published(infra, org)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"specversion": "0.3"}, "specversion '0.3' is not supported"),
        ({"specversion": 1.0}, "specversion '1.0' is not supported"),
        ({"specversion": None}, "no 'specversion'"),
        ({"id": ""}, "required attribute(s) ['id']"),
        ({"type": "com.example.unknown"}, "names no trigger"),
        ({"time": "yesterday"}, "not an RFC 3339 timestamp"),
        ({"time": "2026-12-01T10:00:00"}, "time zone"),
        ({"datacontenttype": "application/xml"}, "JSON data"),
        ({"data_base64": "AAAA"}, "data_base64"),
        ({"Bad-Name": "x"}, "not allowed"),
        ({"source": "s" * 5000}, "over the limit"),
        ({"data": ["not", "an", "object"]}, "must be a JSON object"),
        ({"data": {"activity": {"type": "x"}, "id": "1"}}, "must not set ['id']"),
    ],
)
async def test_malformed_events_get_422_naming_the_problem(
    ingest, infra: Infra, org: str, change: dict[str, Any], says: str
) -> None:
    body = {k: v for k, v in (event() | change).items() if v is not None}
    r = await post(ingest, infra, org, body)
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"], r.json()["detail"]
    await nothing_published(infra, org)


async def test_huge_and_deep_data_are_refused(ingest, infra: Infra, org: str) -> None:
    huge = event(data={"activity": {"type": "x", "metadata": {"blob": "x" * 200_000}}})
    r = await post(ingest, infra, org, huge)
    assert r.status_code == 413 and "over the limit" in r.json()["detail"], r.text
    deep = event(data={"activity": {"type": "x", "metadata": nested(MAX_JSON_DEPTH + 1)}})
    r = await post(ingest, infra, org, deep)
    assert r.status_code == 422 and f"limit of {MAX_JSON_DEPTH} levels" in r.json()["detail"], r.text
    # deeper than any JSON parser should follow: still one clear 422, not a 500
    body = b'{"specversion":"1.0","id":"1","source":"/s","type":"activity_event","data":' + b"[" * 100_000
    r = await ingest.post("/v1/cloudevents", content=body, headers=infra.auth(org) | STRUCTURED)
    assert r.status_code == 422 and "not JSON" in r.json()["detail"], r.text
    r = await post(ingest, infra, org, [event() for _ in range(1001)], BATCH)
    assert r.status_code == 422 and "over the limit of 1000" in r.json()["detail"]
    await nothing_published(infra, org)


async def test_not_a_cloudevent_is_415(ingest, infra: Infra, org: str) -> None:
    r = await post(ingest, infra, org, {"activity": {"type": "x"}}, {"Content-Type": "application/json"})
    assert r.status_code == 415 and "ce-specversion" in r.json()["detail"]
    binary = {"Content-Type": "text/plain", "ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "x"}
    r = await ingest.post("/v1/cloudevents", content=b"hello", headers=infra.auth(org) | binary)
    assert r.status_code == 415 and "JSON" in r.json()["detail"]
    binary_foreign = binary | {"Content-Type": "application/json", "ce-type": "activity_event", "ce-orgid": "org-x"}
    r = await ingest.post(
        "/v1/cloudevents", content=b'{"activity":{"type":"x"}}', headers=infra.auth(org) | binary_foreign
    )
    assert r.status_code == 403
    await nothing_published(infra, org)


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ([("ce_orgid", b"org-victim")], "names org 'org-victim'"),
        ([("ce_specversion", b"0.3")], "specversion '0.3' is not supported"),
        ([("ce_type", b"com.example.exception")], "this topic carries activity_event events"),
        ([("ce_id", b"")], "required attribute(s) ['id']"),
    ],
)
async def test_hostile_kafka_cloudevents_are_dead_lettered_with_the_reason(
    ingest, infra: Infra, org: str, headers: list[tuple[str, bytes]], says: str
) -> None:
    base = {"ce_specversion": b"1.0", "ce_id": b"e-1", "ce_source": b"/upstream", "ce_type": b"activity_event"}
    wire = list((base | dict(headers)).items())
    await produce(
        infra.kafka_bootstrap,
        UPSTREAM_ACTIVITY_EVENTS.name,
        [{"orgId": org, "activity": {"type": "x"}}],
        key=org,
        headers=wire,
    )
    [dead] = await collect(infra.kafka_bootstrap, f"{UPSTREAM_ACTIVITY_EVENTS.name}.dlq", where=lambda r: r.key == org)
    assert "CloudEvent refused" in dead.headers["dlq.error"] and says in dead.headers["dlq.error"], dead.headers
    await nothing_published(infra, org)
