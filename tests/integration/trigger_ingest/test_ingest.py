"""trigger-ingest against a real PostgreSQL and broker: HTTP and upstream topics to triggers.v1."""

from __future__ import annotations

import uuid

import pytest

from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS, UPSTREAM_EXCEPTIONS
from playbooks_dev.testing import Infra, Received, collect, produce, running_service


@pytest.fixture(scope="module")
async def ingest(infra: Infra):
    async with running_service("trigger-ingest", infra) as (client, runtime, _app):
        yield client, runtime


def for_org(org: str):
    return lambda r: r.key == org


async def test_http_event_is_published_to_triggers_keyed_by_org(ingest, infra: Infra, org: str) -> None:
    client, _ = ingest
    body = {
        "activity": {"type": "Contract_Signed", "doc_id": "d-1", "category": "contract", "metadata": {"dealSize": 12}}
    }
    r = await client.post("/v1/events/activity_event", json=body, headers=infra.auth(org))
    assert r.status_code == 202, r.text
    event_id = r.json()["id"]

    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    assert msg.value["id"] == event_id
    assert msg.value["type"] == "activity_event"
    assert msg.value["org_id"] == org
    assert msg.value["source"] == "http:tester"
    # normalised: type lowered, metadata kept verbatim
    assert msg.value["data"] == {
        "activity": {"type": "contract_signed", "doc_id": "d-1", "category": "contract", "metadata": {"dealSize": 12}}
    }


async def test_batch_of_mixed_triggers(ingest, infra: Infra, org: str) -> None:
    client, _ = ingest
    events = [
        {"trigger": "accounts_pack_run", "metrics": {"pack_type": "investor_accounts_snapshot", "runway": 7}},
        {
            "trigger": "exception",
            "domain": "Finance",
            "exception_type": "late_payment",
            "severity": "HIGH",
            "policy_tags": ["SOX", "sox", "pci"],
        },
        {"trigger": "activity_event", "activity": {"type": "deck_saved_to_vault"}},
    ]
    r = await client.post("/v1/events:batch", json={"events": events}, headers=infra.auth(org))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 3 and r.json()["duplicates"] == 0

    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=3)
    by_type = {m.value["type"]: m.value["data"] for m in msgs}
    assert by_type["accounts_pack_run"]["metrics"]["pack_type"] == "investor_accounts_snapshot"
    assert by_type["exception"]["severity"] == "high"
    assert by_type["exception"]["policy_tags"] == ["pci", "sox"]
    assert by_type["activity_event"]["activity"]["type"] == "deck_saved_to_vault"


async def test_duplicates_are_published_once(ingest, infra: Infra, org: str) -> None:
    client, _ = ingest
    event_id = str(uuid.uuid4())
    body = {"id": event_id, "metrics": {"pack_type": "x"}}
    first = await client.post("/v1/events/accounts_pack_run", json=body, headers=infra.auth(org))
    again = await client.post("/v1/events/accounts_pack_run", json=body, headers=infra.auth(org))
    assert first.json() == {"id": event_id, "duplicate": False}
    assert again.json() == {"id": event_id, "duplicate": True}

    # Without an event id, the Idempotency-Key makes the retry return the same ids.
    headers = infra.auth(org) | {"Idempotency-Key": "retry-1"}
    batch = {
        "events": [
            {"trigger": "activity_event", "activity": {"type": "a"}},
            {"trigger": "activity_event", "activity": {"type": "b"}},
        ]
    }
    one = await client.post("/v1/events:batch", json=batch, headers=headers)
    two = await client.post("/v1/events:batch", json=batch, headers=headers)
    assert [e["id"] for e in one.json()["events"]] == [e["id"] for e in two.json()["events"]]
    assert two.json()["duplicates"] == 2

    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=3, settle=1.5)
    assert len(msgs) == 3
    assert len({m.value["id"] for m in msgs}) == 3


async def test_invalid_event_is_422_naming_the_field(ingest, infra: Infra, org: str) -> None:
    client, _ = ingest
    r = await client.post(
        "/v1/events/exception",
        headers=infra.auth(org),
        json={"domain": "Finance", "exception_type": "x", "severity": "urgent"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert "severity" in str(problem)
    assert any(e["field"] == "body.severity" for e in problem["errors"])

    r = await client.post(
        "/v1/events/activity_event", headers=infra.auth(org), json={"activity": {"type": "x"}, "unexpected": 1}
    )
    assert r.status_code == 422 and "unexpected" in r.text


async def test_oversized_event_is_413(ingest, infra: Infra, org: str) -> None:
    client, runtime = ingest
    limit = runtime.settings.max_event_bytes
    body = {"activity": {"type": "big", "metadata": {"blob": "x" * (limit + 10)}}}
    r = await client.post("/v1/events/activity_event", json=body, headers=infra.auth(org))
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


async def test_no_token_is_401(ingest) -> None:
    client, _ = ingest
    r = await client.post("/v1/events/activity_event", json={"activity": {"type": "x"}})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await client.post(
        "/v1/events/activity_event", json={"activity": {"type": "x"}}, headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert r.status_code == 401


async def test_upstream_topic_to_triggers(ingest, infra: Infra, org: str) -> None:
    event_id = str(uuid.uuid4())
    raw = {
        "orgId": org,
        "id": event_id,
        "domain": "Claims",
        "exceptionType": "missing_document",
        "severity": "critical",
        "slaDeadline": "2026-11-24T10:00:00+01:00",
        "attributes": {"claimId": "C-9"},
    }
    await produce(infra.kafka_bootstrap, UPSTREAM_EXCEPTIONS.name, [raw, raw])  # redelivered once

    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), settle=1.5)
    assert len(msgs) == 1
    data = msgs[0].value["data"]
    assert msgs[0].value["id"] == event_id
    assert msgs[0].value["source"] == f"kafka:{UPSTREAM_EXCEPTIONS.name}"
    assert data["exception_type"] == "missing_document"
    assert data["sla_deadline"].startswith("2026-11-24T09:00:00")  # normalised to UTC
    assert data["attributes"] == {"claimId": "C-9"}


async def test_bad_upstream_messages_go_to_the_dlq_with_the_reason(ingest, infra: Infra, org: str) -> None:
    _, runtime = ingest
    marker = uuid.uuid4().hex
    bad = [
        b"{not json " + marker.encode(),
        {"orgId": org, "activity": {"type": "x"}, "marker": marker},  # unknown field
        {"activity": {"type": "x", "doc_id": marker}},  # no org
        {"orgId": org, "activity": {"type": "x", "metadata": {"blob": marker + "y" * 70_000}}},  # too big
    ]
    good = {"orgId": org, "activity": {"type": "still_flowing"}}
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [*bad, good])

    def mine(r: Received) -> bool:
        return marker.encode() in (r.value if isinstance(r.value, bytes) else str(r.value).encode())

    dead = await collect(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.dlq, where=mine, count=4)
    assert len(dead) == 4
    for d in dead:
        assert d.headers["dlq.original_topic"] == UPSTREAM_ACTIVITY_EVENTS.name
        assert d.headers["dlq.error"]
        assert "dlq.original_offset" in d.headers
    reasons = " | ".join(d.headers["dlq.error"] for d in dead)
    assert "JSON" in reasons or "json" in reasons
    assert "marker" in reasons and "org_id" in reasons and "limit" in reasons

    # the worker kept going: the good message behind the bad ones was published
    [ok] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    assert ok.value["data"]["activity"]["type"] == "still_flowing"
    assert runtime.consumers[0].healthy


async def test_one_trace_from_http_request_to_published_message(ingest, infra: Infra, org: str, spans) -> None:
    client, _ = ingest
    r = await client.post("/v1/events/activity_event", json={"activity": {"type": "traced"}}, headers=infra.auth(org))
    assert r.status_code == 202
    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org))
    trace_id = msg.headers["traceparent"].split("-")[1]

    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind.name == "SERVER" and "/v1/events/activity_event" in s.name]
    producer = [s for s in finished if s.kind.name == "PRODUCER" and TRIGGERS.name in s.name]
    assert server and producer
    assert f"{server[0].context.trace_id:032x}" == trace_id
    assert f"{producer[0].context.trace_id:032x}" == trace_id


async def test_readyz_checks_database_and_broker(ingest) -> None:
    client, _ = ingest
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert set(r.json()["checks"]) >= {"database", "broker"}
    m = await client.get("/metrics")
    assert "playbooks_http_requests_total" in m.text and "process_resident_memory_bytes" in m.text


async def test_order_within_an_org_is_kept(ingest, infra: Infra, org: str) -> None:
    """Partitions are handled concurrently, but one org's events stay in the order they came."""
    others = [f"{org}-other-{i}" for i in range(6)]  # traffic on other partitions at the same time
    ids = [str(uuid.uuid4()) for _ in range(300)]
    for other in others:
        noise = [{"orgId": other, "activity": {"type": "noise"}} for _ in range(50)]
        await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, noise, key=other)
    mine = [{"orgId": org, "id": i, "activity": {"type": "step", "doc_id": i}} for i in ids]
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, mine, key=org)

    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=len(ids), timeout=30)
    assert [m.value["id"] for m in msgs] == ids


async def test_an_event_that_cannot_be_written_rolls_its_batch_back_and_goes_to_the_dlq(
    ingest, infra: Infra, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim runs beside the envelopes being written: when one fails, the batch's claimed ids
    are rolled back (else its good events would pass as duplicates and never be published)."""
    from trigger_ingest import worker

    marker = uuid.uuid4().hex
    real = worker.normalise

    def normalise(trigger, event, **kw):  # type: ignore[no-untyped-def]
        if event.activity.doc_id == marker:
            raise ValueError("cannot be published: a test says so")
        return real(trigger, event, **kw)

    monkeypatch.setattr(worker, "normalise", normalise)
    ids = [str(uuid.uuid4()) for _ in range(450)]  # past one slice of envelopes, so the claim overlaps
    values = [{"orgId": org, "id": i, "activity": {"type": "step", "doc_id": i}} for i in ids]
    values.insert(300, {"orgId": org, "activity": {"type": "step", "doc_id": marker}})
    await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, values, key=org)

    [dead] = await collect(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.dlq, where=lambda r: marker in str(r.value))
    assert "a test says so" in dead.headers["dlq.error"]
    msgs = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=for_org(org), count=len(ids), settle=1.0)
    assert [m.value["id"] for m in msgs] == ids
