"""Learning with the owner's approval: outcomes arrive over playbook-executions.v1 (the real consumer), the agent
proposes a new default, a retry, needs_update, each with its figures; approve makes a new version, reject keeps
the reason, rollback restores any version as a new one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agent_review import agent_service, publish_doc
from sqlalchemy import func, select, update

from playbooks_contracts import Envelope
from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS
from playbooks_dev.testing import Infra, eventually, produce
from recommendation_agent.models import executions


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    async with agent_service(infra, tmp_path_factory.mktemp("proposals")) as service:
        yield service


def outcome(org: str, pid: str, version: str, success: bool, **data: Any) -> dict[str, Any]:
    body = {"playbook_id": pid, "version": version, "run_id": f"run-{uuid.uuid4().hex[:10]}", "success": success}
    return Envelope(type="playbook.executed", org_id=org, source="runbook-runtime", data=body | data).model_dump(
        mode="json"
    )


async def deliver(infra: Infra, runtime, org: str, pid: str, values: list[dict[str, Any]]) -> list[str]:
    """Through the broker and the service's own consumer; returns the run ids once all are recorded."""
    await produce(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, values, key=org)
    e = executions.c

    async def recorded():
        async with runtime.database.tenant_transaction(org) as session:
            n = (await session.execute(select(func.count()).where(e.org_id == org, e.playbook_id == pid))).scalar()
        return n >= len(values)

    await eventually(recorded, timeout=30)
    return [v["data"]["run_id"] for v in values]


async def age(runtime, org: str, run_ids: list[str], days: int) -> None:
    """These outcomes happened ``days`` ago (the consumer stamps arrival time)."""
    async with runtime.database.tenant_transaction(org) as session:
        await session.execute(
            update(executions)
            .where(executions.c.org_id == org, executions.c.run_id.in_(run_ids))
            .values(at=func.now() - func.make_interval(0, 0, 0, days))
        )


async def test_new_default_and_needs_update_then_approve_reject_rollback(agent, infra: Infra, org: str):
    client, runtime = agent
    owner = infra.auth(org, user_id="olga", roles=["author"])
    r = await client.post("/api/playbook/aws-rds-stop/clone", json={"playbook_id": "rds-weekend"}, headers=owner)
    assert r.status_code == 201, r.text

    # 30 days: 10 older successes; 7 days: 2 successes, 4 failures (never 3 in a row: that would mark it broken).
    # 12 of the 16 runs gave region eu-west-1.
    def params(i: int) -> dict[str, Any]:
        return {"instance_id": f"db-{i}", "region": "eu-west-1" if i < 12 else "us-east-1", "dry_run": False}

    older = [outcome(org, "rds-weekend", "1.0.0", True, parameters=params(i), duration_ms=1000) for i in range(10)]
    recent = [
        outcome(org, "rds-weekend", "1.0.0", i in (2, 5), parameters=params(10 + i), error="boom") for i in range(6)
    ]
    ids = await deliver(infra, runtime, org, "rds-weekend", older + recent)
    await age(runtime, org, ids[:10], 20)

    assert (await client.get("/api/playbook/rds-weekend/proposals", headers=owner)).json() == []
    r = await client.post("/api/playbook/rds-weekend/proposals/refresh", headers=owner)
    assert r.status_code == 200, r.text
    found = {p["kind"]: p for p in r.json()}
    assert set(found) == {"new_default", "needs_update"}
    default = found["new_default"]
    assert default["status"] == "open" and default["base_version"] == "1.0.0"
    assert default["change"] == {"set": [{"path": ["parameters", "region", "default"], "value": "eu-west-1"}]}
    ev = default["evidence"]
    assert (ev["runs_30d"], ev["runs_7d"], ev["runs_with_value_30d"], ev["share_30d"]) == (16, 6, 12, 0.75)
    assert ev["current_default"] is None and ev["proposed_default"] == "eu-west-1"
    assert ev["mean_duration_ms_30d"] == 1000
    drop = found["needs_update"]["evidence"]
    assert (drop["success_rate_30d"], drop["success_rate_7d"]) == (0.75, 0.3333)
    # nothing changed yet: a proposal is only a proposal
    got = (await client.get("/api/playbook/rds-weekend", headers=owner)).json()
    assert got["current"]["version"] == "1.0.0" and got["current"]["status"] == "active"

    # refreshing again proposes nothing twice (deterministic, idempotent)
    again = (await client.post("/api/playbook/rds-weekend/proposals/refresh", headers=owner)).json()
    assert sorted(p["id"] for p in again) == sorted(p["id"] for p in r.json())

    r = await client.post(f"/api/proposals/{default['id']}/approve", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["applied_version"] == "1.1.0"
    assert r.json()["decided_by"] == "olga"
    got = (await client.get("/api/playbook/rds-weekend", headers=owner)).json()
    current = got["current"]
    assert (current["version"], current["status"]) == ("1.1.0", "active")
    params_now = {p["name"]: p for p in current["document"]["parameters"]}
    assert params_now["region"]["default"] == "eu-west-1"
    assert current["document"]["metadata"]["based_on"] == {"playbook_id": "aws-rds-stop", "version": "1.0.0"}
    assert [(v["version"], v["status"]) for v in got["versions"]] == [("1.0.0", "deprecated"), ("1.1.0", "active")]
    r = await client.post(f"/api/proposals/{default['id']}/approve", headers=owner)
    assert r.status_code == 409  # decided once

    r = await client.post(
        f"/api/proposals/{found['needs_update']['id']}/reject",
        json={"reason": "the failures were a planned outage"},
        headers=owner,
    )
    assert r.status_code == 200 and r.json()["reason"] == "the failures were a planned outage", r.text
    # a rejected proposal is not made again
    again = (await client.post("/api/playbook/rds-weekend/proposals/refresh", headers=owner)).json()
    assert len(again) == 2 and {p["status"] for p in again} == {"approved", "rejected"}

    r = await client.post("/api/playbook/rds-weekend/rollback", json={"version": "1.0.0"}, headers=owner)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "playbook_id": "rds-weekend",
        "version": "1.2.0",
        "status": "active",
        "from_ref": "version 1.0.0",
    }
    got = (await client.get("/api/playbook/rds-weekend", headers=owner)).json()
    params_now = {p["name"]: p for p in got["current"]["document"]["parameters"]}
    assert got["current"]["version"] == "1.2.0" and params_now["region"]["default"] is None

    audit = (await client.get("/api/playbook/rds-weekend/audit", headers=owner)).json()
    actions = [a["action"] for a in audit]
    assert actions == [
        "cloned",
        "proposal_created",
        "proposal_created",
        "proposal_approved",
        "proposal_rejected",
        "rolled_back",
    ]
    approved = audit[3]
    assert approved["actor"] == "olga" and approved["version"] == "1.1.0"
    assert approved["detail"]["evidence"]["share_30d"] == 0.75
    assert audit[4]["detail"]["reason"] == "the failures were a planned outage"
    assert audit[5]["from_ref"] == "version 1.0.0 (was at 1.1.0)"


async def test_retry_on_a_step_that_fails_transiently(agent, infra: Infra, org: str, make_doc):
    client, runtime = agent
    doc = make_doc("nightly-rds", status="active")
    doc["runbook"] = {"steps": [{"id": "snapshot", "type": "cli"}, {"id": "stop", "type": "cli"}]}
    await publish_doc(client, infra, org, doc)
    values = [outcome(org, "nightly-rds", "1.0.0", True) for _ in range(3)]
    values += [
        outcome(org, "nightly-rds", "1.0.0", False, failed_step="snapshot", error=err)
        for err in ("Throttling: Rate exceeded", "read timed out", "HTTP 503 Service Unavailable", "AccessDenied")
    ]
    values.append(outcome(org, "nightly-rds", "1.0.0", False, failed_step="stop", error="connection reset by peer"))
    await deliver(infra, runtime, org, "nightly-rds", values)
    r = await client.post("/api/playbook/nightly-rds/proposals/refresh", headers=infra.auth(org))
    assert r.status_code == 200, r.text
    (retry,) = r.json()  # one transient failure of "stop" is not a pattern; no drop in success
    assert retry["kind"] == "retry"
    assert retry["change"]["set"][0]["path"] == ["runbook", "steps", "snapshot", "retry"]
    ev = retry["evidence"]
    assert (ev["step"], ev["step_failures_30d"], ev["transient_failures_30d"]) == ("snapshot", 4, 3)
    assert ev["current_retry"] is None
    # the publisher owns it and approves
    r = await client.post(f"/api/proposals/{retry['id']}/approve", headers=infra.auth(org))
    assert r.status_code == 200, r.text
    got = (await client.get("/api/playbook/nightly-rds", headers=infra.auth(org))).json()
    assert got["current"]["version"] == "1.1.0"
    steps = got["current"]["document"]["runbook"]["steps"]
    assert steps[0]["retry"] == {"attempts": 3, "delay": 5, "strategy": "exponential"} and "retry" not in steps[1]
    assert got["lineage"] is None and got["owner"] == "tester"


async def test_stats_route_records_overrides_too(agent, infra: Infra, org: str):
    client, _ = agent
    owner = infra.auth(org, user_id="olga", roles=["author"])
    assert (
        await client.post("/api/playbook/aws-rds-stop/clone", json={"playbook_id": "rds-x"}, headers=owner)
    ).status_code == 201
    for i in range(5):
        r = await client.post(
            f"/api/playbook/stats/{org}/rds-x/1.0.0",
            json={"success": True, "run_id": f"r{i}", "parameters": {"dry_run": True}},
            headers=infra.auth(org, roles=["operator"]),
        )
        assert r.status_code == 200, r.text
    (p,) = (await client.post("/api/playbook/rds-x/proposals/refresh", headers=owner)).json()
    assert p["kind"] == "new_default" and p["evidence"]["proposed_default"] is True
