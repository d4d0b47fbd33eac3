"""One event, one trace: every span from the ingest request to the last message it causes shares its trace id."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from playbooks_contracts import Envelope
from playbooks_contracts.topics import (
    PLAYBOOK_EXECUTIONS,
    RUNBOOK_REQUESTS,
    RUNBOOK_STEP_RESULTS,
    RUNBOOKS_COMPILED,
    TRIGGERS,
    UPSTREAM_ACTIVITY_EVENTS,
)
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.errors import NotFound
from playbooks_platform.service import installed_services
from playbooks_platform.telemetry import SCHEMA_URL

UPSTREAM_TRACE = "0af7651916cd43dd8448eb211c80319c"
UPSTREAM_PARENT = "b7ad6b7169203331"


def trace_of(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def parent_of(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent else None


def traceparent_ids(header: str) -> tuple[str, str]:
    _, trace_id, parent_id, _ = header.split("-")
    return trace_id, parent_id


async def publish_and_allow_real_runs(
    infra: Infra, runtime: Any, org: str, runbook_id: str, version: str, runbook: dict[str, Any]
) -> None:
    """Automation starts published runbooks only, and real runs only where the org's policy allows it."""
    # Imported here: these tests are skipped where runbook-runtime is not installed.
    from playbooks_contracts.policy import OrgPolicy
    from runbook_runtime.org_policy import put_policy
    from runbook_runtime.published import get_published

    data = {"playbook_id": runbook_id, "version": version, "name": runbook["meta"]["name"], "runbook": runbook}
    compiled = Envelope(type="runbook.compiled", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled.model_dump(mode="json")], key=org)
    async with runtime.database.tenant_transaction(org) as session:
        await put_policy(session=session, org_id=org, policy=OrgPolicy(automation_real_runs=True), actor="test-admin")

    async def published() -> bool:
        async with runtime.database.tenant_transaction(org) as session:
            try:
                return bool(await get_published(session=session, org_id=org, runbook_id=runbook_id, version=version))
            except NotFound:
                return False

    await eventually(published)


@pytest.fixture(scope="module")
async def ingest(infra: Infra):
    async with running_service("trigger-ingest", infra) as (client, _runtime, _app):
        yield client


async def test_http_event_and_its_trigger_message_share_one_trace(
    ingest, infra: Infra, org: str, spans: InMemorySpanExporter
) -> None:
    r = await ingest.post("/v1/events/activity_event", json={"activity": {"type": "x"}}, headers=infra.auth(org))
    assert r.status_code == 202, r.text
    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=lambda m: m.key == org)

    trace_id, parent_id = traceparent_ids(msg.headers["traceparent"])
    chain = [s for s in spans.get_finished_spans() if trace_of(s) == trace_id]
    [server] = [s for s in chain if s.kind == SpanKind.SERVER]
    assert server.attributes["http.route"] == "/v1/events/activity_event"
    [publish] = [s for s in chain if s.name == "send triggers.v1"]
    assert publish.kind == SpanKind.PRODUCER and span_id(publish) == parent_id
    # The claim is one statement (a WITH around the insert): find it by what it writes.
    assert any("INSERT INTO trigger_ingest.seen_events" in str(s.attributes.get("db.statement")) for s in chain), (
        "the dedupe insert is in the trace"
    )


async def test_upstream_trace_continues_through_ingest(
    ingest, infra: Infra, org: str, spans: InMemorySpanExporter
) -> None:
    traceparent = f"00-{UPSTREAM_TRACE}-{UPSTREAM_PARENT}-01"
    event = {"orgId": org, "activity": {"type": "deck_saved_to_vault"}}
    await produce(
        infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [event], headers=[("traceparent", traceparent.encode())]
    )
    [msg] = await collect(infra.kafka_bootstrap, TRIGGERS.name, where=lambda m: m.key == org)

    trace_id, parent_id = traceparent_ids(msg.headers["traceparent"])
    assert trace_id == UPSTREAM_TRACE, "the upstream system's trace goes on"
    chain = await eventually(lambda: [s for s in spans.get_finished_spans() if trace_of(s) == UPSTREAM_TRACE])
    [process] = [s for s in chain if s.name == f"process {UPSTREAM_ACTIVITY_EVENTS.name}"]
    assert process.kind == SpanKind.CONSUMER and parent_of(process) == UPSTREAM_PARENT
    assert process.attributes["playbooks.org_id"] == org
    # One generation of the messaging conventions (telemetry.SEMCONV_VERSION), none of the deprecated names.
    attributes = dict(process.attributes)
    assert attributes["messaging.kafka.offset"] >= 0
    assert attributes["messaging.operation.type"] == "process" == attributes["messaging.operation.name"]
    assert attributes["messaging.destination.name"] == UPSTREAM_ACTIVITY_EVENTS.name
    assert attributes["messaging.destination.partition.id"].isdigit()
    assert attributes["messaging.consumer.group.name"].endswith("trigger-ingest.upstream")
    assert not {"messaging.kafka.message.offset", "messaging.kafka.destination.partition"} & set(attributes)
    assert process.instrumentation_scope.schema_url == SCHEMA_URL
    [publish] = [s for s in chain if s.name == "send triggers.v1"]
    assert publish.attributes["messaging.operation.type"] == "send"
    assert publish.attributes["messaging.kafka.message.key"] == org
    assert publish.attributes["messaging.destination.partition.id"] == str(msg.partition)
    assert publish.attributes["messaging.message.id"] == msg.value["id"], "the envelope id names it"
    assert parent_of(publish) == span_id(process), "the publish span is a child of the message that caused it"
    assert parent_id == span_id(publish), "the trigger message names its publish span"


def requires(*services: str):
    missing = [s for s in services if s not in installed_services()]
    return pytest.mark.skipif(bool(missing), reason=f"not in this repository yet: {missing}")


@requires("runbook-runtime")
async def test_runbook_request_trace_continues_through_the_run_and_its_outbox(
    infra: Infra, org: str, spans: InMemorySpanExporter
) -> None:
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "traced", "version": "1", "governance": {"allowed_commands": ["echo"]}},
        "steps": [{"id": "hello", "type": "cli", "with": {"argv": ["echo", "hi"]}}],
    }
    request = Envelope(
        type="runbook.requested",
        org_id=org,
        source="test",
        data={
            "request_id": f"trace-{org}",
            "mode": "real",
            "runbook_id": "traced",
            "runbook_version": "1",
            "playbook_id": "pb",
            "playbook_version": "1",
        },
    )
    traceparent = f"00-{UPSTREAM_TRACE}-{UPSTREAM_PARENT}-01"
    async with running_service("runbook-runtime", infra) as (_client, runtime, _app):
        await publish_and_allow_real_runs(infra, runtime, org, "traced", "1", runbook)
        await produce(
            infra.kafka_bootstrap,
            RUNBOOK_REQUESTS.name,
            [request.model_dump(mode="json")],
            key=org,
            headers=[("traceparent", traceparent.encode())],
        )
        [step] = await collect(infra.kafka_bootstrap, RUNBOOK_STEP_RESULTS.name, where=lambda m: m.key == org)
        [executed] = await collect(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=lambda m: m.key == org)

    for message in (step, executed):
        assert traceparent_ids(message.headers["traceparent"])[0] == UPSTREAM_TRACE
    chain = [s for s in spans.get_finished_spans() if trace_of(s) == UPSTREAM_TRACE]
    [process] = [s for s in chain if s.name == f"process {RUNBOOK_REQUESTS.name}"]
    assert parent_of(process) == UPSTREAM_PARENT and process.attributes["playbooks.org_id"] == org
    publishes = {s.name: s for s in chain if s.kind == SpanKind.PRODUCER}
    assert {f"send {RUNBOOK_STEP_RESULTS.name}", f"send {PLAYBOOK_EXECUTIONS.name}"} <= set(publishes)
    # Relayed from the outbox after commit, the messages still name their publish span in this trace.
    assert traceparent_ids(step.headers["traceparent"])[1] == span_id(publishes[f"send {RUNBOOK_STEP_RESULTS.name}"])


@requires("condition-engine", "runbook-runtime")
async def test_one_trace_from_the_ingest_request_to_the_runbook_run(
    infra: Infra, org: str, spans: InMemorySpanExporter
) -> None:
    """HTTP event -> trigger -> condition-engine run -> runbook task -> runbook-runtime run: one trace id."""
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "chained", "governance": {"allowed_commands": ["echo"]}},
        "steps": [{"id": "hello", "type": "cli", "with": {"argv": ["echo", "hi"]}}],
    }
    playbook = {
        "name": "contract signed -> runbook",
        "trigger": "activity_event",
        "status": "active",
        "conditions": [{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
        "actions": [
            {
                "type": "enqueue_task",
                "params": {
                    "queue": "runbook",
                    "mode": "real",
                    "runbook_id": "chained",
                    "runbook_version": "1",
                    "playbook_id": "chained",
                },
            }
        ],
    }
    async with (
        running_service("trigger-ingest", infra) as (ingest, _, _),
        running_service("condition-engine", infra) as (engine, _, _),
        running_service("runbook-runtime", infra) as (_, runtime, _),
    ):
        await publish_and_allow_real_runs(infra, runtime, org, "chained", "1", runbook)
        r = await engine.post("/api/playbooks", json=playbook, headers=infra.auth(org))
        assert r.status_code == 201, r.text
        r = await ingest.post(
            "/v1/events/activity_event", json={"activity": {"type": "contract_signed"}}, headers=infra.auth(org)
        )
        assert r.status_code == 202, r.text
        [executed] = await collect(
            infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=lambda m: m.key == org, timeout=30
        )

    trace_id, _ = traceparent_ids(executed.headers["traceparent"])
    names = {s.name for s in spans.get_finished_spans() if trace_of(s) == trace_id}
    assert any(s.kind == SpanKind.SERVER for s in spans.get_finished_spans() if trace_of(s) == trace_id)
    # Every hop of the chain, across three services, is in the one trace the HTTP request started.
    for hop in (
        f"send {TRIGGERS.name}",
        f"process {TRIGGERS.name}",
        f"send {RUNBOOK_REQUESTS.name}",
        f"process {RUNBOOK_REQUESTS.name}",
        f"send {PLAYBOOK_EXECUTIONS.name}",
    ):
        assert hop in names, f"{hop} is not in the request's trace: {sorted(names)}"
