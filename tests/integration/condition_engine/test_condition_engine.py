"""condition-engine against a real PostgreSQL and broker: triggers.v1 in, runs and messages out."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from playbooks_contracts import MAX_CAUSATION_DEPTH, Envelope, derived_id
from playbooks_contracts.topics import ACTIVITY_LOGGED, PLAYBOOK_RUNS, RUNBOOK_REQUESTS, TASKS_ENQUEUED, TRIGGERS
from playbooks_dev.testing import Infra, Received, collect, eventually, produce, running_service
from playbooks_platform.service import Runtime


@pytest.fixture(scope="module")
async def engine(infra: Infra):
    async with running_service("condition-engine", infra) as (client, runtime, _app):
        yield client, runtime


def for_org(org: str):
    return lambda r: r.key == org


async def create(client: httpx.AsyncClient, infra: Infra, org: str, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/playbooks", json={"status": "active", **body}, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    return r.json()


async def from_template(client: httpx.AsyncClient, infra: Infra, org: str, key: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/api/playbook-templates/{key}/playbooks", json=body, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    return r.json()


async def send(infra: Infra, org: str, *events: Envelope) -> None:
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [e.model_dump(mode="json") for e in events], key=org)


def activity(org: str, type_: str, **kw: Any) -> Envelope:
    return Envelope(type="activity_event", org_id=org, source="test", data={"activity": {"type": type_}}, **kw)


async def runs(client: httpx.AsyncClient, infra: Infra, org: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/playbook-runs", params=params, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def runs_of(client: httpx.AsyncClient, infra: Infra, org: str, count: int, **params: Any):
    async def check() -> list[dict[str, Any]] | None:
        found = await runs(client, infra, org, **params)
        return found if len(found) >= count else None

    return eventually(check)


async def test_event_runs_the_orgs_active_playbooks_and_publishes(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    contract = await from_template(client, infra, org, "contract-signed-renewal-reminder", status="active")
    deck = await from_template(client, infra, org, "new-deck-outreach-sequence", status="active")
    await from_template(client, infra, org, "contract-signed-renewal-reminder")  # inactive: never runs
    other_org = f"{org}-other"
    await from_template(client, infra, other_org, "contract-signed-renewal-reminder", status="active")

    event = activity(org, "contract_signed", id=uuid.uuid4())
    await send(infra, org, event)

    found = await runs_of(client, infra, org, 2)
    by_playbook = {r["playbookId"]: r for r in found}
    assert set(by_playbook) == {contract["id"], deck["id"]}
    ok, skipped = by_playbook[contract["id"]], by_playbook[deck["id"]]
    assert ok["status"] == "success" and ok["eventId"] == str(event.id)
    # the normalised event as decoded from triggers.v1
    assert ok["triggerEvent"]["activity"] == {
        "type": "contract_signed",
        "doc_id": None,
        "category": None,
        "metadata": {},
    }
    assert ok["metrics"]["playbookName"] == contract["name"]
    assert ok["metrics"]["trigger"] == "activity_event" and ok["metrics"]["actionsCount"] == 1
    assert ok["metrics"]["category"] == "contracts"
    assert skipped["status"] == "skipped" and "activity.type" in skipped["metrics"]["failedCondition"]["message"]
    assert await runs(client, infra, other_org) == []  # another org's playbooks do not see the event

    [logged] = await collect(infra.kafka_bootstrap, ACTIVITY_LOGGED.name, where=for_org(org))
    assert logged.value["data"]["type"] == "renewal_reminder_created"
    assert logged.value["causation_id"] == str(event.id) and logged.value["depth"] == 1
    assert logged.value["data"]["run_id"] == ok["id"]
    # one message for the event, carrying both runs (the skipped one too)
    [record] = await collect(infra.kafka_bootstrap, PLAYBOOK_RUNS.name, where=for_org(org), settle=1.0)
    assert record.value["type"] == "playbook_runs.recorded" and record.value["causation_id"] == str(event.id)
    assert record.value["id"] == str(derived_id("playbook_runs.recorded", org, event.id))
    assert record.value["data"]["event_id"] == str(event.id)
    assert sorted((r["run_id"], r["status"]) for r in record.value["data"]["runs"]) == sorted(
        [(ok["id"], "success"), (skipped["id"], "skipped")]
    )

    r = await client.get(f"/api/playbooks/{contract['id']}", headers=infra.auth(org))
    assert r.json()["lastRunAt"] is not None
    r = await client.get(f"/api/playbooks/{deck['id']}", headers=infra.auth(org))
    assert r.json()["lastRunAt"] is None  # only successful runs count
    r = await client.get(f"/api/playbook-runs/{ok['id']}", headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["id"] == ok["id"]


async def test_redelivered_event_makes_one_run_per_playbook(engine, infra: Infra, org: str) -> None:
    client, runtime = engine
    pb = await from_template(client, infra, org, "new-deck-outreach-sequence", status="active")
    ended = {"kind": "condition", "mode": "live", "status": "success"}
    before = runtime.metrics.total("playbooks_run_duration_seconds_count", **ended)
    event = activity(org, "deck_saved_to_vault", id=uuid.uuid4())
    await send(infra, org, event, event)  # twice in one batch
    await runs_of(client, infra, org, 1)
    await send(infra, org, event)  # and again later
    tasks = await collect(infra.kafka_bootstrap, TASKS_ENQUEUED.name, where=for_org(org), count=1, settle=1.5)
    assert len(tasks) == 1 and tasks[0].value["data"]["queue"] == "outreach_sequence"
    assert tasks[0].value["data"]["params"] == {"target": "investor_list"}
    found = await runs(client, infra, org)
    assert len(found) == 1 and found[0]["playbookId"] == pb["id"] and found[0]["status"] == "success"
    # one run, one observed duration: the redeliveries made no run and so no observation
    assert runtime.metrics.total("playbooks_run_duration_seconds_count", **ended) == before + 1
    async with runtime.database.transaction() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM condition_engine.activities WHERE org_id = :org"), {"org": org}
        )
    assert count == 1


async def test_action_failure_is_a_failed_run_and_the_worker_goes_on(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    needs_doc = await create(
        client,
        infra,
        org,
        name="Needs a doc id",
        trigger="activity_event",
        conditions=[{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
        actions=[{"type": "log_activity", "params": {"type": "noted", "metadata": {"doc": "{{activity.doc_id.x}}"}}}],
    )
    plain = await from_template(client, infra, org, "contract-signed-renewal-reminder", status="active")
    too_deep = activity(org, "contract_signed", id=uuid.uuid4(), depth=MAX_CAUSATION_DEPTH)
    fine = activity(org, "contract_signed", id=uuid.uuid4())
    await send(infra, org, too_deep, fine)

    found = await runs_of(client, infra, org, 4)
    status = {(r["playbookId"], r["eventId"]): (r["status"], r["error"]) for r in found}
    assert status[(needs_doc["id"], str(fine.id))][0] == "failed"
    assert "activity.doc_id.x is missing" in status[(needs_doc["id"], str(fine.id))][1]
    assert status[(plain["id"], str(fine.id))] == ("success", None)  # the next playbook still ran
    failed, error = status[(plain["id"], str(too_deep.id))]
    assert failed == "failed" and "causation chain" in error  # the depth bound holds
    # a failed run leaves none of its effects behind: only the fine event's activity was logged
    logged = await collect(infra.kafka_bootstrap, ACTIVITY_LOGGED.name, where=for_org(org), settle=1.0)
    assert [m.value["causation_id"] for m in logged] == [str(fine.id)]
    assert len(await runs(client, infra, org, status="failed")) == 3


async def test_runbook_task_requests_the_runbook(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    await create(
        client,
        infra,
        org,
        name="Disk full -> runbook",
        trigger="accounts_pack_run",
        conditions=[{"field": "metrics.disk_pct", "op": "gte", "value": 90}],
        actions=[{"type": "enqueue_task", "params": {"queue": "runbook", "runbook_ref": "disk-full.yaml"}}],
    )
    event = Envelope(type="accounts_pack_run", org_id=org, data={"metrics": {"disk_pct": "95"}})
    await send(infra, org, event)
    [request] = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, where=for_org(org))
    assert request.value["type"] == "runbook.requested"
    assert request.value["data"]["runbook_ref"] == "disk-full.yaml"
    assert request.value["data"]["mode"] == "dry-run"
    assert request.value["causation_id"] == str(event.id)


async def test_playbook_changes_reach_the_worker(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    pb = await from_template(client, infra, org, "contract-signed-renewal-reminder", status="active")
    # Runs on every activity: its run shows the worker has handled an event.
    witness = await create(client, infra, org, name="witness", trigger="activity_event", conditions=[], actions=[])
    await send(infra, org, activity(org, "contract_signed"))
    await runs_of(client, infra, org, 1, playbook=pb["id"])
    r = await client.post(f"/api/playbooks/{pb['id']}/deactivate", headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    r = await client.patch(
        f"/api/playbooks/{pb['id']}",
        json={"conditions": [{"field": "activity.type", "op": "starts_with", "value": "contract_"}]},
        headers=infra.auth(org),
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    await send(infra, org, activity(org, "contract_renewed"))  # inactive: no run
    await runs_of(client, infra, org, 2, playbook=witness["id"])
    r = await client.post(f"/api/playbooks/{pb['id']}/activate", headers=infra.auth(org))
    assert r.json()["status"] == "active"
    await send(infra, org, activity(org, "contract_sent"))  # matches only the new version's condition
    found = await runs_of(client, infra, org, 2, playbook=pb["id"])
    assert [r["triggerEvent"]["activity"]["type"] for r in found] == ["contract_sent", "contract_signed"]
    assert all(r["status"] == "success" for r in found)


async def test_another_org_cannot_see_playbooks_or_runs(engine, infra: Infra, org: str) -> None:
    client, runtime = engine
    pb = await from_template(client, infra, org, "contract-signed-renewal-reminder", status="active")
    await send(infra, org, activity(org, "contract_signed"))
    [run] = await runs_of(client, infra, org, 1)
    intruder = infra.auth(f"{org}-b")
    assert (await client.get(f"/api/playbooks/{pb['id']}", headers=intruder)).status_code == 404
    assert (await client.get(f"/api/playbook-runs/{run['id']}", headers=intruder)).status_code == 404
    assert (await client.get("/api/playbooks", headers=intruder)).json()["items"] == []
    assert (await client.get("/api/playbook-runs", headers=intruder)).json()["items"] == []
    assert (await client.post(f"/api/playbooks/{pb['id']}/deactivate", headers=intruder)).status_code == 404
    assert (await client.delete(f"/api/playbooks/{pb['id']}", headers=intruder)).status_code == 404
    assert (await client.get(f"/api/playbooks/{pb['id']}/dry-run", headers=intruder)).status_code == 404

    # Row-level security, with no WHERE org_id at all: another org's session sees nothing.
    sql = (
        "SELECT (SELECT count(*) FROM condition_engine.playbooks),"
        " (SELECT count(*) FROM condition_engine.playbook_runs)"
    )
    async with runtime.database.tenant_transaction(f"{org}-b") as session:
        assert tuple((await session.execute(text(sql))).one()) == (0, 0)
    async with runtime.database.tenant_transaction(org) as session:
        assert tuple((await session.execute(text(sql))).one()) == (1, 1)
        with pytest.raises(Exception, match="row-level security"):
            await session.execute(
                text("UPDATE condition_engine.playbooks SET org_id = :other WHERE id = :id"),
                {"other": f"{org}-b", "id": pb["id"]},
            )


async def _effects(runtime: Runtime, org: str) -> tuple[int, ...]:
    async with runtime.database.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM condition_engine.playbook_runs WHERE org_id = :o),"
                    " (SELECT count(*) FROM condition_engine.activities WHERE org_id = :o),"
                    " (SELECT count(*) FROM condition_engine.tasks WHERE org_id = :o),"
                    " (SELECT count(*) FROM condition_engine.outbox WHERE key = :o)"
                ),
                {"o": org},
            )
        ).one()
    return tuple(row)


async def test_dry_run_shows_what_would_happen_and_does_nothing(engine, infra: Infra, org: str) -> None:
    client, runtime = engine
    pb = await from_template(client, infra, org, "investor-snapshot-update-recommended", status="active")
    before = await _effects(runtime, org)

    r = await client.get(f"/api/playbooks/{pb['id']}/dry-run", headers=infra.auth(org))
    assert r.status_code == 200, r.text
    result = r.json()
    metrics = result["sampleEvent"]["metrics"]
    assert metrics["pack_type"] == "investor_accounts_snapshot"
    assert metrics["estimatedRunwayMonths"] < 6 and metrics["totalMonthlyBurn"] > 0
    assert [c["passed"] for c in result["conditions"]] == [True, True, True]
    assert result["wouldRun"] is True and result["status"] == "success" and result["reason"] is None
    assert [a["type"] for a in result["actions"]] == ["log_activity", "enqueue_task"]
    assert result["actions"][0]["publishes"][0]["topic"] == ACTIVITY_LOGGED.name
    assert result["actions"][1]["publishes"][0]["data"]["queue"] == "investor_updates"

    event = {"metrics": {"pack_type": "investor_accounts_snapshot", "estimatedRunwayMonths": 14}}
    r = await client.post(f"/api/playbooks/{pb['id']}/dry-run", json={"event": event}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    result = r.json()
    assert [c["passed"] for c in result["conditions"]] == [True, False, False]
    assert "metrics.estimatedRunwayMonths is 14" in result["conditions"][1]["message"]
    assert result["conditions"][2]["message"] == "metrics.totalMonthlyBurn is missing from the event"
    assert result["wouldRun"] is False and result["actions"] == [] and "totalMonthlyBurn" in result["reason"]

    r = await client.post(
        f"/api/playbooks/{pb['id']}/dry-run", json={"event": {"activity": {}}}, headers=infra.auth(org)
    )
    assert r.status_code == 422 and "accounts_pack_run" in r.json()["detail"]

    assert await _effects(runtime, org) == before == (0, 0, 0, 0)
    published: list[Received] = []
    for topic in (ACTIVITY_LOGGED, TASKS_ENQUEUED, PLAYBOOK_RUNS):
        published += await collect(infra.kafka_bootstrap, topic.name, where=for_org(org), timeout=1.0)
    assert published == []


async def test_invalid_playbooks_are_422_naming_the_index(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    base = {"name": "x", "trigger": "activity_event", "actions": []}
    conditions = [
        {"field": "activity.type", "op": "equals", "value": "a"},
        {"field": "metrics.runway", "op": "lt", "value": "six"},
    ]
    r = await client.post("/api/playbooks", json=base | {"conditions": conditions}, headers=infra.auth(org))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["detail"].startswith("condition 1 is invalid")
    assert problem["errors"] == [
        {"field": "body.conditions[1].value", "index": 1, "message": "lt compares numbers; got a string 'six'"}
    ]
    r = await client.post(
        "/api/playbooks",
        json=base | {"conditions": [{"field": "a", "op": "like", "value": "x"}]},
        headers=infra.auth(org),
    )
    assert r.status_code == 422 and "unknown operator 'like'" in r.json()["detail"]
    r = await client.post(
        "/api/playbooks",
        json=base | {"conditions": [], "actions": [{"type": "send_slack", "params": {}}]},
        headers=infra.auth(org),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.actions[0].type"
    r = await client.post(
        "/api/playbooks", json=base | {"trigger": "exception", "conditions": []}, headers=infra.auth(org)
    )
    assert r.status_code == 422
    pb = await create(client, infra, org, **base, conditions=[])
    r = await client.patch(
        f"/api/playbooks/{pb['id']}", json={"conditions": [{"field": "a", "op": "gt"}]}, headers=infra.auth(org)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.conditions[0].value"
    r = await client.post("/api/playbook-templates/nope/playbooks", headers=infra.auth(org))
    assert r.status_code == 404


async def test_crud_templates_pagination_and_insights(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    templates = (await client.get("/api/playbook-templates", headers=infra.auth(org))).json()["items"]
    assert [t["category"] for t in templates] == ["contracts", "decks", "accounts"]
    contract = await from_template(client, infra, org, "contract-signed-renewal-reminder", status="active")
    deck = await from_template(client, infra, org, "new-deck-outreach-sequence", status="active", name="Decks!")
    assert deck["name"] == "Decks!" and deck["templateKey"] == "new-deck-outreach-sequence"

    await send(infra, org, *(activity(org, "contract_signed") for _ in range(3)), activity(org, "deck_exported"))
    await runs_of(client, infra, org, 8)

    page1 = await client.get("/api/playbook-runs", params={"limit": 5}, headers=infra.auth(org))
    page2 = await client.get(
        "/api/playbook-runs", params={"limit": 5, "cursor": page1.json()["nextCursor"]}, headers=infra.auth(org)
    )
    ids = [r["id"] for r in page1.json()["items"] + page2.json()["items"]]
    assert len(ids) == len(set(ids)) == 8 and page2.json()["nextCursor"] is None
    assert len(await runs(client, infra, org, playbook=deck["id"], status="success")) == 1
    assert len(await runs(client, infra, org, playbook=deck["id"], status="skipped")) == 3
    assert await runs(client, infra, org, since="2999-01-01T00:00:00Z") == []
    bad = await client.get("/api/playbook-runs", params={"cursor": "garbage"}, headers=infra.auth(org))
    assert bad.status_code == 422

    insights = (await client.get("/api/insights/playbooks?window=30d", headers=infra.auth(org))).json()
    categories = {c["category"]: c["runs"] for c in insights["categories"]}
    assert categories["contracts"] == {"success": 3, "failed": 0, "skipped": 3, "pending": 0, "total": 6}
    assert categories["decks"]["success"] == 1 and categories["decks"]["skipped"] == 1
    assert categories["accounts"]["total"] == 0
    per_playbook = {p["playbookId"]: p for p in insights["playbooks"]}
    assert per_playbook[contract["id"]]["runs"]["success"] == 3
    assert per_playbook[deck["id"]]["lastRunAt"] is not None
    assert (await client.get("/api/insights/playbooks?window=1y", headers=infra.auth(org))).status_code == 422

    # Per day (the console's chart): counted by the service, every day of the window present.
    async def daily(who: str = org, **params: str) -> dict[str, Any]:
        r = await client.get("/api/insights/daily", params={"window": "30d", **params}, headers=infra.auth(who))
        assert r.status_code == 200, r.text
        return r.json()

    every = await daily()
    assert len(every["days"]) == 30 and every["total"] == 8
    assert every["days"][-1]["counts"] == {"success": 4, "skipped": 4}  # all of today's
    assert sum(d["total"] for d in every["days"][:-1]) == 0
    assert (await daily(playbook=deck["id"]))["days"][-1]["counts"] == {"success": 1, "skipped": 3}
    assert (await daily(category="contracts"))["total"] == categories["contracts"]["total"]
    assert len((await daily(window="7d"))["days"]) == 7
    # Another org counts none of them, even naming this org's playbook.
    other = f"{org}-other"
    assert (await daily(other))["total"] == 0 and (await daily(other, playbook=deck["id"]))["total"] == 0
    assert (await client.get("/api/insights/daily?window=1y", headers=infra.auth(org))).status_code == 422

    r = await client.delete(f"/api/playbooks/{deck['id']}", headers=infra.auth(org))
    assert r.status_code == 204
    assert (await client.get(f"/api/playbooks/{deck['id']}", headers=infra.auth(org))).status_code == 404
    assert [p["id"] for p in (await client.get("/api/playbooks", headers=infra.auth(org))).json()["items"]] == [
        contract["id"]
    ]
