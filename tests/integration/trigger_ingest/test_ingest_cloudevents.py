"""CloudEvents 1.0 into trigger-ingest (HTTP structured, batch and binary; Kafka binary), and
binary-mode ``ce_*`` headers on every trigger message it publishes."""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
import pytest

from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS, UPSTREAM_EXCEPTIONS
from playbooks_dev.testing import Infra, Received, collect, produce, running_service

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture(scope="module")
async def ingest(infra: Infra):
    async with running_service("trigger-ingest", infra) as (client, _runtime, _app):
        yield client


def for_org(org: str):
    return lambda r: r.key == org


def assert_binary_headers(msg: Received) -> None:
    """The published message describes itself in Kafka binary mode; its payload is the envelope as before."""
    assert msg.headers["ce_specversion"] == "1.0"
    assert msg.headers["ce_id"] == msg.value["id"]
    assert msg.headers["ce_source"] == msg.value["source"]
    assert msg.headers["ce_type"] == f"io.playbooks.trigger.{msg.value['type']}"
    assert msg.headers["content-type"] == "application/json"
    published = datetime.fromisoformat(msg.headers["ce_time"])
    assert published == datetime.fromisoformat(msg.value["occurred_at"])
    assert set(msg.value) == {
        "id",
        "type",
        "org_id",
        "occurred_at",
        "source",
        "schema_version",
        "causation_id",
        "depth",
        "data",
    }


async def test_structured_event_maps_id_source_type_time_and_data(ingest, infra: Infra, org: str) -> None:
    event_id = str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "https://crm.example.com/deals",
        "type": "com.example.crm.activity_event",
        "time": "2026-11-30T09:15:00+01:00",
        "datacontenttype": "application/json",
        "data": {"activity": {"type": "Contract_Signed", "doc_id": "d-7"}},
    }
    r = await ingest.post("/v1/cloudevents", content=orjson.dumps(event), headers=infra.auth(org) | STRUCTURED)
    assert r.status_code == 202, r.text
    assert r.json()["events"] == [{"id": event_id, "duplicate": False}]

    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    assert msg.value["id"] == event_id
    assert msg.value["org_id"] == org, "the org is the token's"
    assert msg.value["type"] == "activity_event"
    assert msg.value["source"] == "https://crm.example.com/deals"
    assert datetime.fromisoformat(msg.value["occurred_at"]) == datetime.fromisoformat(event["time"])
    assert msg.value["data"] == {
        "activity": {"type": "contract_signed", "doc_id": "d-7", "category": None, "metadata": {}}
    }
    assert_binary_headers(msg)


async def test_batch_with_non_uuid_ids_is_idempotent_on_source_and_id(ingest, infra: Infra, org: str) -> None:
    events = [
        {
            "specversion": "1.0",
            "id": "A-1",
            "source": "/erp",
            "type": "accounts_pack_run",
            "data": {"metrics": {"runway": 7}},
        },
        {
            "specversion": "1.0",
            "id": "A-1",  # the same id from another source is another event
            "source": "/billing",
            "type": "com.example.exception",
            "data": {"domain": "Finance", "exception_type": "late_payment", "severity": "HIGH"},
        },
    ]
    first = await ingest.post("/v1/cloudevents", content=orjson.dumps(events), headers=infra.auth(org) | BATCH)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 2
    again = await ingest.post("/v1/cloudevents", content=orjson.dumps(events), headers=infra.auth(org) | BATCH)
    assert again.json()["duplicates"] == 2, "a resent event is a duplicate, not a new one"
    assert [e["id"] for e in again.json()["events"]] == [e["id"] for e in first.json()["events"]]

    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=2, settle=0.5)
    assert sorted(m.value["type"] for m in msgs) == ["accounts_pack_run", "exception"]
    for m in msgs:
        assert_binary_headers(m)


async def test_binary_mode_over_http(ingest, infra: Infra, org: str) -> None:
    headers = infra.auth(org) | {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "evt-42",
        "ce-source": "urn:example:vault",
        "ce-type": "activity_event",
        "ce-time": "2026-12-01T10:00:00Z",
    }
    r = await ingest.post("/v1/cloudevents", content=b'{"activity": {"type": "deck_saved_to_vault"}}', headers=headers)
    assert r.status_code == 202, r.text
    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    assert msg.value["source"] == "urn:example:vault" and msg.value["occurred_at"].startswith("2026-12-01T10:00:00")
    assert msg.value["id"] == r.json()["events"][0]["id"]
    assert_binary_headers(msg)


async def test_binary_mode_over_kafka(ingest, infra: Infra, org: str) -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"upstream-9"),
        ("ce_source", b"kafka://erp/exceptions"),
        ("ce_type", b"com.example.erp.exception"),
        ("ce_time", b"2026-12-02T08:00:00Z"),
        ("content-type", b"application/json"),
    ]
    body = {"orgId": org, "domain": "Claims", "exceptionType": "Dup", "severity": "low"}
    await produce(infra.kafka_bootstrap, UPSTREAM_EXCEPTIONS.name, [body], key=org, headers=headers)
    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    assert msg.value["source"] == "kafka://erp/exceptions"
    assert msg.value["occurred_at"].startswith("2026-12-02T08:00:00")
    assert msg.value["org_id"] == org
    assert_binary_headers(msg)
    # the same event again (same source and id) is a duplicate
    await produce(infra.kafka_bootstrap, UPSTREAM_EXCEPTIONS.name, [body], key=org, headers=headers)
    assert len(await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=2, timeout=3)) == 1


async def test_plain_messages_also_carry_binary_mode_headers(ingest, infra: Infra, org: str) -> None:
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [{"orgId": org, "activity": {"type": "x"}}])
    r = await ingest.post("/v1/events/activity_event", json={"activity": {"type": "y"}}, headers=infra.auth(org))
    assert r.status_code == 202
    for msg in await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=2):
        assert_binary_headers(msg)
