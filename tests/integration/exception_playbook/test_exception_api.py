"""exception-playbook over HTTP against a real PostgreSQL and broker: every endpoint, steps, packs, tenancy."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from playbooks_contracts.topics import EXCEPTION_EVENTS, NOTIFICATIONS
from playbooks_dev.testing import Infra, collect, running_service

POLICY: dict[str, Any] = {
    "status_transitions": {
        "open": ["in_progress", "escalated"],
        "in_progress": ["escalated", "resolved"],
        "escalated": ["in_progress", "resolved"],
    },
    "tool_allow_list": ["ledger.lookup"],
    "notification_channels": ["email", "slack"],
    "templates": {
        "settlement-alert": {"subject": "Trade ${trade_id}", "body": "Trade ${trade_id}: ${amount} (${severity})"}
    },
}

SETTLEMENT: dict[str, Any] = {
    "name": "Settlement failure",
    "conditions": {"match": {"domain": "Finance", "severity_in": ["high", "critical"]}, "priority": 100},
    "steps": [
        {
            "name": "Alert desk",
            "action_type": "notify",
            "params": {"channel": "slack", "template_id": "settlement-alert", "recipients": ["#desk"]},
        },
        {"name": "Take it", "action_type": "assign_owner", "params": {"queue": "settlements"}},
        {"name": "Work it", "action_type": "set_status", "params": {"status": "in_progress"}},
        {
            "name": "Check ledger",
            "action_type": "call_tool",
            "params": {"tool_id": "ledger.lookup", "payload_template": {"trade": "${trade_id}"}},
        },
        {
            "name": "Close",
            "action_type": "add_comment",
            "params": {"text_template": "Settled ${trade_id}", "resolve_on_completion": True},
        },
    ],
}


@pytest.fixture(scope="module")
async def svc(infra: Infra):
    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        yield client, runtime


def api(client: httpx.AsyncClient, infra: Infra, org: str, **auth: Any):
    headers = infra.auth(org, **auth)

    async def call(method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        r = await client.request(method, path, headers=headers, **kw)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r.json() if r.content else None

    return call


async def setup_tenant(call: Any, playbook: dict[str, Any] = SETTLEMENT) -> dict[str, Any]:
    await call("POST", "/api/policy-pack/versions", 201, json=POLICY)
    return await call("POST", "/api/playbooks", 201, json=playbook)


def exception(**kw: Any) -> dict[str, Any]:
    body = {
        "domain": "Finance",
        "exception_type": "Trade Settlement Failure",
        "severity": "high",
        "attributes": {"trade_id": "T-1", "amount": 1200},
    }
    return body | kw


async def test_full_playbook_run_over_http(svc, infra: Infra, org: str) -> None:
    client, runtime = svc
    ended = {"kind": "exception", "mode": "manual", "status": "resolved"}
    before = runtime.metrics.total("playbooks_run_duration_seconds_count", **ended)
    call = api(client, infra, org)
    playbook = await setup_tenant(call)
    assert playbook["version"] == 1 and [s["step_order"] for s in playbook["steps"]] == [1, 2, 3, 4, 5]

    exc = await call("POST", "/api/exceptions", 201, json=exception(external_id="up-1"))
    assert exc["current_playbook_id"] == playbook["playbook_id"] and exc["current_step"] == 1
    assert exc["status"] == "open"
    assert (await call("GET", f"/api/exceptions/{exc['id']}"))["id"] == exc["id"]
    assert (await call("GET", "/api/exceptions/up-1"))["id"] == exc["id"]  # by the upstream id too

    view = await call("GET", f"/api/exceptions/{exc['id']}/playbook")
    assert view["name"] == "Settlement failure" and view["version"] == 1 and view["current_step"] == 1
    assert [s["status"] for s in view["steps"]] == ["pending"] * 5
    assert view["steps"][0] | {"step_order": 1, "name": "Alert desk", "action_type": "notify"} == view["steps"][0]
    assert "Selected 'Settlement failure' v1 (priority 100)" in view["reasoning"]

    base = f"/api/exceptions/{exc['id']}/playbook/steps"
    human = {"actor_type": "human", "notes": "paged the desk"}
    view = await call("POST", f"{base}/1/complete", json=human)
    assert view["current_step"] == 2 and view["steps"][0]["status"] == "completed"
    assert view["steps"][0]["actor_id"] == "tester"
    agent = api(client, infra, org, user_id="triage-agent", roles=["agent"])
    view = await agent("POST", f"{base}/2/complete", json={})
    assert (view["steps"][1]["actor_type"], view["steps"][1]["actor_id"]) == ("agent", "triage-agent")
    view = await call("POST", f"{base}/3/complete", json=human)
    assert view["exception_status"] == "in_progress"
    # call_tool needs a human
    r = await agent("POST", f"{base}/4/complete", 403, json={})
    assert "only a human" in r["detail"]
    await call("POST", f"{base}/4/complete", json=human)
    assert runtime.metrics.total("playbooks_run_duration_seconds_count", **ended) == before  # not done yet
    view = await call("POST", f"{base}/5/complete", json=human)
    assert view["state"] == "completed" and view["current_step"] is None
    assert runtime.metrics.total("playbooks_run_duration_seconds_count", **ended) == before + 1
    assert [s["status"] for s in view["steps"]] == ["completed"] * 5

    done = await call("GET", f"/api/exceptions/{exc['id']}")
    assert done["status"] == "resolved" and done["owner"] == "queue:settlements"

    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    types = [e["event_type"] for e in events]
    assert types == [
        "ExceptionCreated",
        "PlaybookStarted",
        *["PlaybookStepCompleted"] * 3,
        "PlaybookStepRefused",
        *["PlaybookStepCompleted"] * 2,
        "PlaybookCompleted",
    ]
    tool = events[6]["payload"]["result"]
    assert tool["message"] == 'would call tool ledger.lookup with params {"trade":"T-1"}'
    assert events[-1]["payload"]["status"] == "resolved"
    assert events[-2]["payload"]["result"]["comment"] == "Settled T-1"

    [note] = await collect(
        infra.kafka_bootstrap,
        NOTIFICATIONS.name,
        where=lambda r: r.key == org and r.value["data"]["exception_id"] == exc["id"],
    )
    assert note.value["data"]["body"] == "Trade T-1: 1200 (high)" and note.value["data"]["subject"] == "Trade T-1"
    assert note.value["data"]["channel"] == "slack" and note.value["data"]["recipients"] == ["#desk"]
    published = await collect(infra.kafka_bootstrap, EXCEPTION_EVENTS.name, where=lambda r: r.key == org, count=9)
    assert [p.value["data"]["event_type"] for p in published] == types


async def test_steps_must_come_in_order_and_once(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await setup_tenant(call)
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    base = f"/api/exceptions/{exc['id']}/playbook/steps"
    r = await call("POST", f"{base}/2/complete", 409, json={})
    assert "step 2 is not the next step: step 1 must be completed or skipped first" in r["detail"]
    await call("POST", f"{base}/1/complete", json={})
    r = await call("POST", f"{base}/1/complete", 409, json={})
    assert "step 1 was already completed by human tester" in r["detail"] and "the next step is 2" in r["detail"]
    await call("POST", f"{base}/9/complete", 404, json={})
    r = await client.post(f"{base}/2/skip", headers=infra.auth(org))  # no body: the token's user acts
    assert r.status_code == 200 and r.json()["steps"][1]["actor_id"] == "tester"
    view = await call("GET", f"/api/exceptions/{exc['id']}/playbook")
    assert [s["status"] for s in view["steps"][:3]] == ["completed", "skipped", "pending"]
    assert view["state"] == "in_progress"
    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    refused = [e for e in events if e["event_type"] == "PlaybookStepRefused"]
    assert len(refused) == 2 and refused[1]["payload"]["reason"].startswith("step 1 was already completed")


async def test_concurrent_completions_of_one_step_exactly_one_wins(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await setup_tenant(call)
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    path = f"/api/exceptions/{exc['id']}/playbook/steps/1/complete"
    responses = await asyncio.gather(*[client.post(path, json={}, headers=infra.auth(org)) for _ in range(6)])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    assert sum(e["event_type"] == "PlaybookStepCompleted" for e in events) == 1
    after = await call("GET", f"/api/exceptions/{exc['id']}")
    assert after["current_step"] == 2 and after["version"] == exc["version"] + 1
    # and nothing is stuck: the next step goes through
    await call("POST", f"/api/exceptions/{exc['id']}/playbook/steps/2/complete", json={})


async def test_policy_checks_and_risky_steps(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await call("POST", "/api/policy-pack/versions", 201, json=POLICY)
    playbook = {
        "name": "Risky",
        "conditions": {"match": {}},
        "steps": [
            {"name": "Resolve now", "action_type": "set_status", "params": {"status": "resolved"}},
            {
                "name": "Escalate",
                "action_type": "set_status",
                "params": {"status": "escalated"},
                "risky": True,
                "skippable": False,
            },
            {"name": "Secret tool", "action_type": "call_tool", "params": {"tool_id": "shell.exec"}},
            {"name": "Fax", "action_type": "notify", "params": {"channel": "fax", "template_id": "settlement-alert"}},
        ],
    }
    await call("POST", "/api/playbooks", 201, json=playbook)
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    base = f"/api/exceptions/{exc['id']}/playbook/steps"
    r = await call("POST", f"{base}/1/complete", 409, json={})
    assert "cannot be resolved before any step" in r["detail"]
    await call("POST", f"{base}/1/skip", json={})
    agent = api(client, infra, org, user_id="bot-1", roles=["agent"])
    r = await agent("POST", f"{base}/2/complete", 403, json={})
    assert "marked risky" in r["detail"]
    r = await call("POST", f"{base}/2/skip", 409, json={})
    assert "cannot be skipped" in r["detail"]
    await call("POST", f"{base}/2/complete", json={})
    r = await call("POST", f"{base}/3/complete", 403, json={})
    assert "'shell.exec' is not on the tenant's tool allow-list" in r["detail"]
    await call("POST", f"{base}/3/skip", json={})
    r = await call("POST", f"{base}/4/complete", 403, json={})
    assert "channel 'fax' is not allowed" in r["detail"]
    assert (await call("GET", f"/api/exceptions/{exc['id']}"))["status"] == "escalated"
    # an agent token cannot pose as a person, and a person acts as themselves
    r = await agent("POST", f"{base}/4/skip", 403, json={"actor_type": "human"})
    assert "agent token" in r["detail"]
    r = await call("POST", f"{base}/4/skip", 403, json={"actor_type": "human", "actor_id": "someone-else"})
    assert "as themselves" in r["detail"]


async def test_transition_not_in_the_policy_pack_is_refused(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await call("POST", "/api/policy-pack/versions", 201, json=POLICY)
    await call(
        "POST",
        "/api/playbooks",
        201,
        json={
            "name": "Review",
            "conditions": {"match": {}},
            "steps": [{"name": "Review", "action_type": "set_status", "params": {"status": "pending_review"}}],
        },
    )
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    r = await call("POST", f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", 409, json={})
    assert r["detail"] == (
        "the tenant's policy pack does not allow open -> pending_review; "
        "from open it allows ['in_progress', 'escalated']"
    )


async def test_recalculate_is_idempotent_and_switches_only_before_any_step(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    first = await setup_tenant(call)
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    path = f"/api/exceptions/{exc['id']}/playbook/recalculate"
    again = await call("POST", path)
    assert again["changed"] is False and again["current_step"] == 1 and again["playbook_id"] == first["playbook_id"]
    assert again["exception_version"] == exc["version"]
    count = len((await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"])

    better = await call(
        "POST", "/api/playbooks", 201, json=SETTLEMENT | {"name": "Better", "conditions": {"priority": 500}}
    )
    switched = await call("POST", path)
    assert switched["changed"] is True and switched["playbook_id"] == better["playbook_id"]
    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    assert [e["event_type"] for e in events[count:]] == ["PlaybookRecalculated", "PlaybookStarted"]
    assert (await call("POST", path))["changed"] is False

    # a new version of the winner replaces it while no step is done
    v2 = await call(
        "POST",
        f"/api/playbooks/{better['playbook_id']}/versions",
        201,
        json=SETTLEMENT | {"name": "Better v2", "conditions": {"priority": 500}},
    )
    assert v2["version"] == 2 and v2["lineage_id"] == better["lineage_id"]
    assert (await call("POST", path))["playbook_id"] == v2["playbook_id"]

    await call("POST", f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", json={})
    await call("POST", "/api/playbooks", 201, json=SETTLEMENT | {"name": "Best", "conditions": {"priority": 900}})
    kept = await call("POST", path)
    assert kept["changed"] is False and kept["playbook_id"] == v2["playbook_id"] and kept["current_step"] == 2
    assert "in progress on this exception and is kept" in kept["reasoning"]


async def test_severity_change_rematches(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    high = await setup_tenant(call)
    low = await call(
        "POST",
        "/api/playbooks",
        201,
        json=SETTLEMENT | {"name": "Low", "conditions": {"match": {"severity_in": ["low"]}}},
    )
    exc = await call("POST", "/api/exceptions", 201, json=exception(severity="low"))
    assert exc["current_playbook_id"] == low["playbook_id"]
    updated = await call("PATCH", f"/api/exceptions/{exc['id']}", json={"severity": "critical"})
    assert updated["current_playbook_id"] == high["playbook_id"] and updated["current_step"] == 1
    same = await call("PATCH", f"/api/exceptions/{exc['id']}", json={"severity": "critical"})
    assert same["version"] == updated["version"]


async def test_no_match_explains_why(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await setup_tenant(call)
    exc = await call("POST", "/api/exceptions", 201, json=exception(domain="Claims"))
    assert exc["current_playbook_id"] is None
    view = await call("GET", f"/api/exceptions/{exc['id']}/playbook")
    assert view["playbook_id"] is None and view["steps"] == [] and view["state"] == "none"
    assert "domain Claims is not finance" in view["reasoning"]
    r = await call("POST", f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", 409, json={})
    assert "has no playbook" in r["detail"]
    preview = await call(
        "POST", "/api/playbooks/match", json={"domain": "Finance", "exception_type": "x", "severity": "high"}
    )
    assert preview["playbook_id"] is not None and preview["reasoning"].startswith("Selected")


async def test_playbook_and_pack_endpoints(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    default = await call("GET", "/api/policy-pack")
    assert default["version"] == 0 and default["document"]["tool_allow_list"] == []
    assert (await call("POST", "/api/policy-pack/versions", 201, json=POLICY))["version"] == 1
    assert (await call("POST", "/api/policy-pack/versions", 201, json=POLICY | {"tags": ["x"]}))["version"] == 2
    assert (await call("GET", "/api/policy-pack"))["document"]["tags"] == ["x"]
    assert [p["version"] for p in (await call("GET", "/api/policy-pack/versions"))["items"]] == [2, 1]
    assert (await call("GET", "/api/policy-pack/versions/1"))["document"]["tags"] == []
    await call("GET", "/api/policy-pack/versions/7", 404)
    r = await call("POST", "/api/policy-pack/versions", 422, json={"status_transitions": {"open": "x"}, "bogus": 1})
    assert "status_transitions.open" in r["detail"]

    domain = {"exception_types": ["Duplicate Claim"], "templates": {"t": {"body": "x"}}}
    assert (await call("POST", "/api/domain-packs/Claims/versions", 201, json=domain))["name"] == "claims"
    assert (await call("GET", "/api/domain-packs/claims"))["version"] == 1
    await call("POST", "/api/domain-packs/claims/versions", 201, json=domain)
    assert [p["version"] for p in (await call("GET", "/api/domain-packs/Claims/versions"))["items"]] == [2, 1]
    assert (await call("GET", "/api/domain-packs/claims/versions/1"))["version"] == 1
    assert [p["name"] for p in (await call("GET", "/api/domain-packs"))["items"]] == ["claims"]
    await call("GET", "/api/domain-packs/trading", 404)

    pb = await call("POST", "/api/playbooks", 201, json=SETTLEMENT)
    v2 = await call("POST", f"/api/playbooks/{pb['playbook_id']}/versions", 201, json=SETTLEMENT | {"name": "S2"})
    r = await call("POST", f"/api/playbooks/{pb['playbook_id']}/versions", 409, json=SETTLEMENT)
    assert "not the current one" in r["detail"]
    assert [p["playbook_id"] for p in (await call("GET", "/api/playbooks"))["items"]] == [v2["playbook_id"]]
    everything = (await call("GET", "/api/playbooks", params={"include_superseded": "true"}))["items"]
    assert {p["version"] for p in everything} == {1, 2}
    versions = (await call("GET", f"/api/playbooks/{v2['playbook_id']}/versions"))["items"]
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    assert (await call("GET", f"/api/playbooks/{pb['playbook_id']}"))["current"] is False
    await call("GET", f"/api/playbooks/{uuid.uuid4()}", 404)
    bad = SETTLEMENT | {"steps": [{"name": "x", "action_type": "notify", "params": {"channel": "slack"}}]}
    r = await call("POST", "/api/playbooks", 422, json=bad)
    assert "template_id" in r["detail"] or "template_id" in str(r)
    await call("POST", "/api/playbooks", 422, json=SETTLEMENT | {"conditions": {"match": {"colour": "red"}}})
    reader = api(client, infra, org, roles=["viewer"])
    await reader("POST", "/api/playbooks", 403, json=SETTLEMENT)
    await reader("POST", "/api/policy-pack/versions", 403, json=POLICY)
    await call("GET", f"/api/exceptions/{uuid.uuid4()}", 404)
    await call("POST", "/api/exceptions", 422, json=exception(severity="urgent"))
    listed = await call("GET", "/api/exceptions")
    assert listed["items"] == []


async def test_a_step_finds_the_domain_pack_of_a_domain_sql_lowercases_otherwise(svc, infra: Infra, org: str) -> None:
    """Domain packs are named by Python's casefold ("Straße" -> "strasse"); the one read of a step
    matches them by SQL's lower(), which differs here, and must still find the pack."""
    client, _ = svc
    call = api(client, infra, org)
    await call("POST", "/api/policy-pack/versions", 201, json=POLICY)
    domain = {"templates": {"road-alert": {"body": "Road ${n}"}}}
    assert (await call("POST", "/api/domain-packs/Straße/versions", 201, json=domain))["name"] == "strasse"
    notify = {"channel": "email", "template_id": "road-alert", "recipients": ["ops@example.com"]}
    steps = [{"name": "Alert", "action_type": "notify", "params": notify}]
    playbook = {"name": "Roads", "conditions": {"match": {"domain": "Straße"}}, "steps": steps}
    await call("POST", "/api/playbooks", 201, json=playbook)
    exc = await call(
        "POST",
        "/api/exceptions",
        201,
        json={"domain": "Straße", "exception_type": "x", "severity": "low", "attributes": {"n": 7}},
    )
    await call("POST", f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", json={})
    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    done = next(e for e in events if e["event_type"] == "PlaybookStepCompleted")
    assert done["payload"]["domain_pack_version"] == 1 and done["payload"]["result"]["body"] == "Road 7"


async def test_tenant_isolation(svc, infra: Infra, org: str) -> None:
    client, runtime = svc
    call = api(client, infra, org)
    other = api(client, infra, f"{org}-b")
    await setup_tenant(call)
    exc = await call("POST", "/api/exceptions", 201, json=exception(external_id="shared-id"))
    await other("GET", f"/api/exceptions/{exc['id']}", 404)
    await other("GET", f"/api/exceptions/{exc['id']}/playbook", 404)
    await other("GET", f"/api/exceptions/{exc['id']}/events", 404)
    await other("POST", f"/api/exceptions/{exc['id']}/playbook/steps/1/complete", 404, json={})
    await other("POST", f"/api/exceptions/{exc['id']}/playbook/recalculate", 404)
    assert (await other("GET", "/api/playbooks"))["items"] == []
    assert (await other("GET", "/api/policy-pack"))["version"] == 0
    theirs = await other("POST", "/api/exceptions", 201, json=exception(external_id="shared-id"))
    assert theirs["current_playbook_id"] is None  # the first tenant's playbook is not a candidate
    # row-level security holds even for a query without a tenant filter
    async with runtime.database.tenant_transaction(f"{org}-b") as session:
        ids = (await session.execute(text("SELECT id FROM exception_playbook.exceptions"))).scalars().all()
        events = (
            (await session.execute(text("SELECT DISTINCT tenant_id FROM exception_playbook.exception_events")))
            .scalars()
            .all()
        )
    assert [str(i) for i in ids] == [theirs["id"]] and events == [f"{org}-b"]


async def test_event_log_is_append_only_in_the_database(svc, infra: Infra, org: str) -> None:
    client, runtime = svc
    call = api(client, infra, org)
    exc = await call("POST", "/api/exceptions", 201, json=exception())
    for statement in (
        "UPDATE exception_playbook.exception_events SET event_type = 'x' WHERE exception_id = :id",
        "DELETE FROM exception_playbook.exception_events WHERE exception_id = :id",
        "TRUNCATE exception_playbook.exception_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.database.transaction() as session:  # the owner role, not just the app role
                await session.execute(text(statement), {"id": exc["id"]})
        # the tenant role is not even granted TRUNCATE
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            async with runtime.database.tenant_transaction(org) as session:
                await session.execute(text(statement), {"id": exc["id"]})
    events = (await call("GET", f"/api/exceptions/{exc['id']}/events"))["items"]
    assert [e["event_type"] for e in events] == ["ExceptionCreated"]


async def test_exception_list_filters_pages_and_counts(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    call = api(client, infra, org)
    await setup_tenant(call)
    made = [await call("POST", "/api/exceptions", 201, json=exception(external_id=f"pg-{i}")) for i in range(3)]
    await call("POST", f"/api/exceptions/{made[0]['id']}/playbook/steps/1/complete", json={})
    await call("POST", f"/api/exceptions/{made[0]['id']}/playbook/steps/2/complete", json={})
    await call("POST", f"/api/exceptions/{made[0]['id']}/playbook/steps/3/complete", json={})  # in_progress

    everything = await call("GET", "/api/exceptions")
    assert everything["count"] == 3 and everything["next_cursor"] is None
    assert [e["external_id"] for e in everything["items"]] == ["pg-2", "pg-1", "pg-0"]
    first = await call("GET", "/api/exceptions", params={"limit": 2})
    second = await call("GET", "/api/exceptions", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything["items"]]
    assert first["count"] == second["count"] == 3 and second["next_cursor"] is None
    opened = await call("GET", "/api/exceptions", params={"status": "open"})
    assert opened["count"] == 2 and {e["external_id"] for e in opened["items"]} == {"pg-1", "pg-2"}
    both = await call("GET", "/api/exceptions", params=[("status", "open"), ("status", "in_progress")])
    assert both["count"] == 3
    assert (await call("GET", "/api/exceptions", params={"since": "2999-01-01T00:00:00"}))["count"] == 0
    bad = await call("GET", "/api/exceptions", 422, params={"cursor": "nope"})
    assert "cursor" in bad["detail"]
