"""Causation chains (issue 24, one message API): automation reacting to its own output stops at
``MAX_DEPTH``, and nothing a producer writes can put a message higher up its chain than its cause.

A message deeper than the limit is dead-lettered by whoever consumes it, naming the depth; one at
the limit causes no action (a playbook's run fails, naming the chain), only records clamped at the
limit; a message's depth and causation come from its cause, never from its data; and a request on
``runbook-requests.v1`` is answered on ``runbook-runs.v1`` by a message it caused.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.topics import ACTIVITY_LOGGED, RUNBOOK_REQUESTS, RUNBOOK_RUNS, TRIGGERS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform import messages
from playbooks_platform.messages import MAX_DEPTH, TooDeep

FORGED = {"id": str(uuid.uuid4()), "depth": 0, "causation_id": None, "org_id": "someone-else"}


def test_what_the_data_says_never_moves_a_message_up_its_chain() -> None:
    by = Envelope(type="activity_event", org_id="acme", depth=MAX_DEPTH - 1, data={"activity": FORGED})
    msg = messages.caused(by, type="activity.logged", data=FORGED | {"metadata": FORGED}, source="s")
    env = Envelope.model_validate(msg)
    assert env.depth == MAX_DEPTH and env.causation_id == by.id and env.org_id == "acme"
    assert env.id != uuid.UUID(FORGED["id"])
    # a message made from the envelope's own JSON (as a bridge would re-publish it) is no way round either
    with pytest.raises(TooDeep, match=f"limit of {MAX_DEPTH}"):
        messages.caused(msg | {"data": FORGED}, type="t", data=FORGED, source="s")


def test_a_stated_depth_is_held_to_the_limit_and_a_cause_to_its_org() -> None:
    for depth in (-1, MAX_DEPTH + 1, 10**9):
        with pytest.raises(TooDeep):
            messages.new(type="t", org_id="acme", source="s", data={}, depth=depth)
    other = Envelope(type="t", org_id="other-org")
    with pytest.raises(ValueError, match="cannot be caused by one of org 'other-org'"):
        messages.caused_or_new(other, type="t", org_id="acme", source="s", data={})


class Stack:
    def __init__(self, engine: httpx.AsyncClient) -> None:
        self.engine = engine


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    async with (
        running_service("condition-engine", infra) as (engine, _, _),
        running_service("runbook-runtime", infra) as (_runtime, _, _),
    ):
        yield Stack(engine)


def envelope(org: str, *, depth: int, data: dict[str, Any], type_: str = "activity_event") -> dict[str, Any]:
    """An envelope's JSON as any producer may write it, its depth whatever it says."""
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "org_id": org,
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": "hostile-bridge",
        "schema_version": 1,
        "causation_id": str(uuid.uuid4()),
        "depth": depth,
        "data": data,
    }


def for_org(org: str):
    return lambda r: r.key == org


async def test_past_the_limit_is_dead_lettered_naming_the_depth(stack: Stack, infra: Infra, org: str) -> None:
    too_deep = envelope(org, depth=MAX_DEPTH + 1, data={"activity": {"type": "x"}})
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [too_deep], key=org)
    request = envelope(
        org, depth=MAX_DEPTH + 1, type_="runbook.requested", data={"request_id": "deep", "runbook_ref": "x.yaml"}
    )
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [request], key=org)
    for topic in (TRIGGERS, RUNBOOK_REQUESTS):
        [dead] = await collect(infra.kafka_bootstrap, topic.dlq, where=for_org(org))
        assert dead.value["id"] in (too_deep["id"], request["id"])
        assert "depth" in dead.headers["dlq.error"] and str(MAX_DEPTH) in dead.headers["dlq.error"]
    # the request was not answered: nothing below the limit was made from it
    assert await collect(infra.kafka_bootstrap, RUNBOOK_RUNS.name, where=for_org(org), timeout=2) == []


async def test_a_loop_through_a_bridge_stops_at_the_limit_whatever_the_data_says(
    stack: Stack, infra: Infra, org: str
) -> None:
    auth = infra.auth(org)
    r = await stack.engine.post(
        "/api/playbooks",
        json={
            "name": "Echo",
            "status": "active",
            "trigger": "activity_event",
            "conditions": [{"field": "activity.type", "op": "equals", "value": "echo"}],
            "actions": [
                {"type": "log_activity", "params": {"type": "echo", "metadata": {"forged": "{{ activity.metadata }}"}}}
            ],
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    # one step below the limit, its data claiming the start of a chain
    first = envelope(org, depth=MAX_DEPTH - 1, data={"activity": {"type": "echo", "metadata": FORGED}})
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [first], key=org)
    [logged] = await collect(infra.kafka_bootstrap, ACTIVITY_LOGGED.name, where=for_org(org))
    assert logged.value["depth"] == MAX_DEPTH and logged.value["causation_id"] == first["id"]
    assert logged.value["data"]["metadata"] == {"forged": FORGED}

    # A bridge feeds the playbook's output back as a new event (another source, so not the playbook's own):
    # at the limit, its actions are refused and the run fails naming the chain; nothing deeper is published.
    again = envelope(org, depth=logged.value["depth"], data={"activity": {"type": "echo", "metadata": FORGED}})
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [again], key=org)

    async def failed() -> dict[str, Any] | None:
        runs = (await stack.engine.get("/api/playbook-runs", headers=auth)).json()["items"]
        return next((run for run in runs if run["eventId"] == again["id"]), None)

    run = await eventually(failed)
    assert run["status"] == "failed" and "causation chain" in run["error"]
    logs = await collect(infra.kafka_bootstrap, ACTIVITY_LOGGED.name, where=for_org(org), count=2, timeout=3)
    assert [m.value["causation_id"] for m in logs] == [first["id"]]


async def test_a_runbook_request_is_answered_by_a_message_it_caused(stack: Stack, infra: Infra, org: str) -> None:
    # Unknown runbooks: each request is refused, and the refusal is announced, caused by the request.
    # One at the limit is still answered (an announcement is a record: it stays at the limit).
    requests = [
        envelope(org, depth=depth, type_="runbook.requested", data={"request_id": f"r{depth}", "runbook_id": "nope"})
        | {"causation_id": FORGED["id"]}
        for depth in (2, MAX_DEPTH)
    ]
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, requests, key=org)
    for request, depth in zip(requests, (3, MAX_DEPTH), strict=True):
        request_id = request["data"]["request_id"]
        # a request dead-lettered after its refusal may be handled twice: the same announcement, one id
        received = await collect(
            infra.kafka_bootstrap,
            RUNBOOK_RUNS.name,
            where=lambda r, rid=request_id: r.key == org and r.value["data"]["request_id"] == rid,
        )
        answer = received[0].value
        assert {r.value["id"] for r in received} == {answer["id"]}
        assert answer["data"]["status"] == "refused"
        assert answer["causation_id"] == request["id"] and answer["depth"] == depth
