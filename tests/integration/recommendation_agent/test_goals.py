"""Goals end to end: words -> questions -> answers -> dry-run plan -> confirm -> run to its end.

recommendation-agent and runbook-runtime run in this process with their workers, over the real
PostgreSQL and broker: the goal's requests travel on runbook-requests.v1 through the agent's outbox,
the runtime's answers on runbook-runs.v1.
"""

from __future__ import annotations

import pytest
from goal_support import GOAL_TEXT, RDS_RUNBOOK, gated, publish_runnable, scenario

from playbooks_dev.testing import Infra, eventually, running_service

OLGA = {"user_id": "olga", "roles": ["runner"]}  # states the goal and confirms it
VERA = {"user_id": "vera", "roles": ["approver"]}  # approves the gate: not the requester


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    """runbook-runtime with its worker; the operator's cap lets dry-runs plan aws commands."""
    async with running_service("runbook-runtime", infra, real_mode_commands=["aws"]) as (client, runtime, _app):
        yield client, runtime


async def goal_when(agent, infra: Infra, org: str, goal_id: str, *statuses: str) -> dict:
    async def reached() -> dict | None:
        r = await agent.get(f"/api/goals/{goal_id}", headers=infra.auth(org, **OLGA))
        assert r.status_code == 200, r.text
        return r.json() if r.json()["status"] in statuses else None

    return await eventually(reached, timeout=45, interval=0.2)


def by_name(goal: dict) -> dict[str, dict]:
    return {p["name"]: p for p in goal["parameters"]}


async def test_goal_in_words_to_a_replayed_run(agent, rt, infra: Infra, org: str) -> None:
    client, _ = agent
    runtime_client, runtime = rt
    pid, version = await publish_runnable(client, infra, org, RDS_RUNBOOK, runtime_db=runtime.database)
    olga = infra.auth(org, **OLGA)

    r = await client.post("/api/goals", json={"text": GOAL_TEXT}, headers=olga)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["status"] == "collecting" and goal["created_by"] == "olga"
    assert (goal["playbook"]["playbook_id"], goal["playbook"]["version"]) == (pid, version)
    assert goal["playbook"]["runnable"] is True and goal["intent"]["action"] == "stop"
    # the ranking's runners-up, each saying whether it could run and why not
    library = [c for c in goal["runners_up"] if c["source"] == "library"]
    assert library and all(not c["runnable"] and "runbook" in c["why_not"] for c in library)
    # values read from the words and the intent, each with its provenance
    filled = by_name(goal)
    assert filled["environment"] == {
        "name": "environment",
        "value": "production",
        "source": "intent",
        "evidence": "production",
    }
    assert filled["instance_id"]["value"] == "orders-db" and filled["instance_id"]["source"] == "words"
    assert filled["instance_id"]["evidence"] == "RDS orders-db" or "orders-db" in filled["instance_id"]["evidence"]
    # the rest asked at once: the region (required, its allowed values) and the suffix (optional, its default)
    questions = {q["name"]: q for q in goal["questions"]}
    assert set(questions) == {"region", "snapshot_suffix"}
    assert questions["region"] == {
        "name": "region",
        "type": "string",
        "description": "AWS region",
        "required": True,
        "allowed": ["us-east-1", "eu-west-1"],
        "default": None,
        "secret": False,
    }
    assert questions["snapshot_suffix"]["required"] is False and questions["snapshot_suffix"]["default"] == "weekend"

    url = f"/api/goals/{goal['id']}"
    # a value outside the allowed ones: 422 naming the parameter, nothing changed
    r = await client.post(f"{url}/answers", json={"answers": {"region": "ap-south-1"}}, headers=olga)
    assert r.status_code == 422 and "'region'" in r.json()["detail"] and r.json()["parameter"] == "region", r.text
    # the run cannot be confirmed before it is planned
    r = await client.post(f"{url}/confirm", json={}, headers=olga)
    assert r.status_code == 409 and "collecting" in r.json()["detail"], r.text

    r = await client.post(f"{url}/answers", json={"answers": {"region": "eu-west-1"}}, headers=olga)
    assert r.status_code == 200, r.text
    goal = r.json()
    assert goal["status"] == "planning" and goal["questions"] == []
    assert by_name(goal)["region"] == {"name": "region", "value": "eu-west-1", "source": "answer", "evidence": "olga"}
    assert by_name(goal)["snapshot_suffix"]["source"] == "default"

    goal = await goal_when(client, infra, org, goal["id"], "planned", "failed")
    assert goal["status"] == "planned", goal["reason"]
    plan = goal["plan"]
    assert [s["step_id"] for s in plan] == ["snapshot", "stop"]
    assert plan[0]["argv"][:4] == ["aws", "rds", "create-db-snapshot", "--db-instance-identifier"]
    assert "orders-db-weekend" in plan[0]["argv"] and plan[1]["argv"][-1] == "eu-west-1"
    r = await runtime_client.get(f"/v1/runs/{goal['plan_run_id']}", headers=olga)
    assert r.status_code == 200 and r.json()["mode"] == "dry-run" and r.json()["requested_by"] == "olga", r.text

    # a viewer may read it, never run it
    viewer = infra.auth(org, user_id="pat", roles=["viewer"])
    assert (await client.get(url, headers=viewer)).status_code == 200
    r = await client.post(f"{url}/confirm", json={"mode": "replay", "scenario": scenario("x", "y")}, headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "run", r.text

    recording = scenario("orders-db", "eu-west-1")
    r = await client.post(f"{url}/confirm", json={"mode": "replay", "scenario": recording}, headers=olga)
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert (
        confirmed["status"] == "confirmed" and confirmed["confirmed_by"] == "olga" and confirmed["run_mode"] == "replay"
    )
    assert confirmed["run_id"] and confirmed["run_id"] != confirmed["plan_run_id"]
    r = await client.post(f"{url}/confirm", json={"mode": "replay", "scenario": recording}, headers=olga)
    assert r.status_code == 409, r.text  # one confirmation, one run

    goal = await goal_when(client, infra, org, goal["id"], "succeeded", "failed")
    assert goal["status"] == "succeeded", goal["reason"]
    assert goal["run_status"] == "passed" and goal["run_id"] == confirmed["run_id"]
    run = (await runtime_client.get(f"/v1/runs/{goal['run_id']}", headers=olga)).json()
    assert run["status"] == "passed" and run["mode"] == "replay" and run["requested_by"] == "olga"
    assert run["vars"] == {
        "environment": "production",
        "instance_id": "orders-db",
        "region": "eu-west-1",
        "snapshot_suffix": "weekend",
    }
    assert [h["step_id"] for h in run["history"]] == ["snapshot", "stop"]
    # answers end with the confirmation
    r = await client.post(f"{url}/answers", json={"answers": {"region": "us-east-1"}}, headers=olga)
    assert r.status_code == 409, r.text

    r = await client.get("/api/goals", headers=olga)
    assert r.status_code == 200 and [g["id"] for g in r.json()["items"]] == [goal["id"]]


async def test_an_approval_gate_holds_the_run_until_someone_else_approves(agent, rt, infra: Infra, org: str) -> None:
    client, _ = agent
    runtime_client, runtime = rt
    await publish_runnable(client, infra, org, gated(RDS_RUNBOOK), runtime_db=runtime.database)
    olga = infra.auth(org, **OLGA)
    text = "Stop staging RDS instance billing-db in us-east-1 over the weekend"
    r = await client.post("/api/goals", json={"text": text}, headers=olga)
    assert r.status_code == 201, r.text
    goal = r.json()
    # complete from its words alone: planned at once
    assert goal["status"] == "planning", goal["questions"]
    assert {p["name"]: (p["value"], p["source"]) for p in goal["parameters"]} == {
        "environment": ("staging", "intent"),
        "instance_id": ("billing-db", "words"),
        "region": ("us-east-1", "words"),
        "snapshot_suffix": ("weekend", "default"),
    }
    goal = await goal_when(client, infra, org, goal["id"], "planned", "failed")
    assert [s["step_id"] for s in goal["plan"]] == ["snapshot", "window", "stop"]
    assert "approval" in " ".join(goal["plan"][1]["pauses_for"])

    body = {"mode": "replay", "scenario": scenario("billing-db", "us-east-1")}
    r = await client.post(f"/api/goals/{goal['id']}/confirm", json=body, headers=olga)
    assert r.status_code == 200, r.text
    goal = await goal_when(client, infra, org, goal["id"], "waiting", "succeeded", "failed")
    assert goal["status"] == "waiting" and goal["current_step"] == "window", goal
    assert goal["waiting_for"], goal

    run_url = f"/v1/runs/{goal['run_id']}"
    # four eyes: olga requested the run; even holding the approver role she cannot approve it
    self_approval = infra.auth(org, user_id="olga", roles=["approver"])
    r = await runtime_client.post(f"{run_url}/approvals", json={}, headers=self_approval)
    assert r.status_code == 403 and "four eyes" in r.json()["detail"], r.text
    r = await runtime_client.post(f"{run_url}/approvals", json={}, headers=infra.auth(org, **VERA))
    assert r.status_code == 200, r.text
    r = await runtime_client.post(f"{run_url}/continue", headers=olga)
    assert r.status_code == 200, r.text
    goal = await goal_when(client, infra, org, goal["id"], "succeeded", "failed")
    assert goal["status"] == "succeeded" and goal["run_status"] == "passed", goal


async def test_refusals_reach_the_goal(agent, rt, infra: Infra, org: str) -> None:
    """A real run the org's policy does not allow automation to start fails the goal with the runtime's reason."""
    client, _ = agent
    _, runtime = rt
    await publish_runnable(client, infra, org, RDS_RUNBOOK, runtime_db=runtime.database)
    olga = infra.auth(org, **OLGA)
    r = await client.post("/api/goals", json={"text": "Stop production RDS orders-db in eu-west-1"}, headers=olga)
    assert r.status_code == 201 and r.json()["status"] == "planning", r.text
    goal = await goal_when(client, infra, org, r.json()["id"], "planned", "failed")
    assert goal["status"] == "planned", goal["reason"]
    r = await client.post(f"/api/goals/{goal['id']}/confirm", json={"mode": "real"}, headers=olga)
    assert r.status_code == 200 and r.json()["run_mode"] == "real", r.text
    goal = await goal_when(client, infra, org, goal["id"], "succeeded", "failed")
    assert goal["status"] == "failed" and "automation_real_runs" in goal["reason"], goal
    assert goal["run_status"] == "refused"


async def test_no_runnable_playbook_is_unmatched_with_the_reasons(agent, infra: Infra, org: str) -> None:
    client, _ = agent
    olga = infra.auth(org, **OLGA)
    r = await client.post("/api/goals", json={"text": "Stop production RDS for weekend"}, headers=olga)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["status"] == "unmatched" and goal["playbook"] is None and goal["questions"] == []
    assert "library" in goal["reason"], goal["reason"]
    assert goal["runners_up"][0]["playbook_id"] == "aws-rds-stop" and not goal["runners_up"][0]["runnable"]
    r = await client.post(f"/api/goals/{goal['id']}/answers", json={"answers": {}}, headers=olga)
    assert r.status_code == 409, r.text
    # naming a candidate that cannot run is a 422 that says why
    body = {"text": "Stop production RDS for weekend", "playbook_id": "aws-rds-stop"}
    r = await client.post("/api/goals", json=body, headers=olga)
    assert r.status_code == 422 and "cannot run" in r.json()["detail"], r.text


async def test_partial_answers_keep_asking_the_rest(agent, infra: Infra, org: str) -> None:
    client, _ = agent
    await publish_runnable(client, infra, org, RDS_RUNBOOK)
    olga = infra.auth(org, **OLGA)
    r = await client.post("/api/goals", json={"text": "Stop the RDS database for the weekend"}, headers=olga)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["status"] == "collecting"
    assert {q["name"] for q in goal["questions"] if q["required"]} == {"environment", "instance_id", "region"}
    url = f"/api/goals/{goal['id']}/answers"
    r = await client.post(url, json={"answers": {"instance_id": "orders-db", "region": "us-east-1"}}, headers=olga)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "collecting"
    assert [q["name"] for q in r.json()["questions"]] == ["environment", "snapshot_suffix"]
    # one bad answer among good ones changes nothing
    r = await client.post(url, json={"answers": {"environment": "prod-eu", "snapshot_suffix": "x"}}, headers=olga)
    assert r.status_code == 422 and r.json()["parameter"] == "environment", r.text
    r = await client.get(f"/api/goals/{goal['id']}", headers=olga)
    assert [q["name"] for q in r.json()["questions"]] == ["environment", "snapshot_suffix"]
    # unknown names: 422 listing the ones the runbook declares
    r = await client.post(url, json={"answers": {"PATH": "/tmp"}}, headers=olga)
    assert r.status_code == 422 and "instance_id" in r.json()["detail"], r.text
    r = await client.post(url, json={"answers": {"environment": "staging"}}, headers=olga)
    assert r.status_code == 200 and r.json()["status"] == "planning", r.text
