"""End-to-end flows: every service as its own ``playbooks serve`` process on the test stack.

1. upstream activity event -> trigger-ingest -> condition-engine run -> ``enqueue_task`` on the runbook
   queue -> runbook-runtime executes it -> ``playbook.executed`` -> the recommendation agent's stats and search.
2. Markdown TSG -> compiler (publish) -> ``pending_review`` playbook -> approved -> found by search ->
   executed in replay mode by the runtime -> verified.
3. exception over HTTP -> matched playbook -> every step completed by a person -> ``PlaybookCompleted``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.topics import (
    EXCEPTION_EVENTS,
    PLAYBOOK_EXECUTIONS,
    RUNBOOKS_COMPILED,
    UPSTREAM_ACTIVITY_EVENTS,
)
from playbooks_dev.testing import Infra, ServiceProcess, collect, eventually, produce
from playbooks_platform.db import Database
from playbooks_platform.errors import NotFound
from playbooks_platform.service import installed_services

pytestmark = pytest.mark.slow

AGENT = "recommendation-agent"
CORE = ("trigger-ingest", "condition-engine", "runbook-runtime", "exception-playbook", "compiler")
# The library playbook whose per-tenant success record flow 1 updates.
LIBRARY_PLAYBOOK, LIBRARY_VERSION = "aws-rds-stop", "1.0.0"
RDS_QUERY = "Stop production RDS for weekend"


@dataclass
class Stack:
    infra: Infra
    urls: dict[str, str]

    def has(self, name: str) -> bool:
        return name in self.urls

    def client(self, name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.urls[name], timeout=30)


@pytest.fixture(scope="module")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The services as separate processes, each consumer group fresh (a killed member elsewhere cannot stall it)."""
    workdir = tmp_path_factory.mktemp("e2e")
    common = {"PLAYBOOKS_CONSUMER_GROUP_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}-"}
    extra: dict[str, dict[str, str]] = {
        # The operator's cap on real-mode commands: flow 1's runbook may run echo and nothing else.
        "runbook-runtime": {"PLAYBOOKS_REAL_MODE_COMMANDS": json.dumps(["echo"])},
        AGENT: {
            "PLAYBOOKS_DATA_DIR": str(workdir / "agent"),
            "PLAYBOOKS_INDEX_PATH": str(workdir / "agent" / "qdrant-edge"),
        },
    }
    names = [n for n in (*CORE, AGENT) if n in installed_services()]
    missing = sorted(set(CORE) - set(names))
    if missing:
        pytest.skip(f"services not installed: {', '.join(missing)}")
    procs = [ServiceProcess(n, infra, workdir, **(common | extra.get(n, {}))) for n in names]
    try:
        for proc in procs:
            await proc.start()
        await asyncio.gather(*(p.ready(timeout=120) for p in procs))
        yield Stack(infra, {p.name: p.url for p in procs})
    finally:
        for proc in procs:
            proc.stop()


# -- flow 3 ----------------------------------------------------------------------------------------


STEPS = [
    {"name": "Acknowledge", "action_type": "add_comment", "params": {"text_template": "Looking at claim ${claim}"}},
    {"name": "Take ownership", "action_type": "assign_owner", "params": {"user_id": "ana"}},
    {"name": "Note the outcome", "action_type": "add_comment", "params": {"text_template": "Claim ${claim} checked"}},
]


async def test_flow3_exception_over_http_to_playbook_completed(stack: Stack, org: str) -> None:
    infra = stack.infra
    person = infra.auth(org, user_id="ana", roles=["admin"])
    async with stack.client("exception-playbook") as ep:
        r = await ep.post(
            "/api/playbooks",
            json={
                "name": "Duplicate claims",
                "conditions": {"match": {"domain": "Claims", "exception_type": "Duplicate Claim"}, "priority": 10},
                "steps": STEPS,
            },
            headers=person,
        )
        assert r.status_code == 201, r.text
        playbook_id = r.json()["playbook_id"]
        other = {"match": {"domain": "Trading"}, "priority": 50}
        r = await ep.post(
            "/api/playbooks", json={"name": "Trading", "conditions": other, "steps": STEPS[:1]}, headers=person
        )
        assert r.status_code == 201, r.text

        body = {
            "external_id": "CLM-77",
            "domain": "Claims",
            "exception_type": "Duplicate Claim",
            "severity": "High",
            "attributes": {"claim": "C-77"},
        }
        r = await ep.post("/api/exceptions", json=body, headers=person)
        assert r.status_code == 201, r.text
        exc = r.json()
        assert exc["current_playbook_id"] == playbook_id and exc["current_step"] == 1

        view = (await ep.get(f"/api/exceptions/{exc['id']}/playbook", headers=person)).json()
        assert view["state"] == "not_started" and [s["name"] for s in view["steps"]] == [s["name"] for s in STEPS]
        for order in range(1, len(STEPS) + 1):
            r = await ep.post(
                f"/api/exceptions/{exc['id']}/playbook/steps/{order}/complete",
                json={"actor_type": "human", "notes": f"done {order}"},
                headers=person,
            )
            assert r.status_code == 200, r.text
        view = r.json()
        assert view["state"] == "completed" and view["current_step"] is None
        assert all(
            s["status"] == "completed" and (s["actor_type"], s["actor_id"]) == ("human", "ana") for s in view["steps"]
        )

        timeline = (await ep.get(f"/api/exceptions/{exc['id']}/events", headers=person)).json()["items"]
        kinds = [e["event_type"] for e in timeline]
        assert kinds[:2] == ["ExceptionCreated", "PlaybookStarted"]
        assert kinds.count("PlaybookStepCompleted") == len(STEPS) and kinds[-1] == "PlaybookCompleted"
        steps_done = [e for e in timeline if e["event_type"] == "PlaybookStepCompleted"]
        assert {(e["actor_type"], e["actor_id"]) for e in steps_done} == {("human", "ana")}
        done = (await ep.get(f"/api/exceptions/{exc['id']}", headers=person)).json()
        assert done["playbook_completed_at"] is not None

    completed = await collect(
        infra.kafka_bootstrap,
        EXCEPTION_EVENTS.name,
        where=lambda m: m.key == org and m.value["data"]["event_type"] == "PlaybookCompleted",
        timeout=20,
        settle=1,
    )
    assert len(completed) == 1
    assert completed[0].value["data"]["exception_id"] == exc["id"] and completed[0].value["org_id"] == org


# -- flow 1 ----------------------------------------------------------------------------------------


def echo_runbook() -> dict[str, Any]:
    """A runbook whose only command is echo (the runtime's operator cap allows nothing else)."""
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "stop-rds-for-weekend",
            "version": "1",
            "vars": {"target": "none"},
            "governance": {"allowed_commands": ["echo"]},
        },
        "steps": [
            {
                "id": "snapshot",
                "type": "cli",
                "with": {"argv": ["echo", "snapshot {{ .target }}"]},
                "assertions": [{"contains": "snapshot"}],
            },
            {
                "id": "stop",
                "type": "cli",
                "with": {"argv": ["echo", "stopped {{ .target }}"]},
                "capture": {"out": "stdout"},
            },
        ],
    }


async def publish_for_automation(infra: Infra, org: str, runbook: dict[str, Any]) -> tuple[str, str]:
    """Publish the runbook as the compiler does, and let automation start real runs in the org.

    Automation starts only runbooks the org published, by id and version, and real runs only where
    the org's policy allows it (decision 0008). Returns the runbook's id and version.
    """
    from runbook_runtime.org_policy import put_policy  # the runtime is installed: the stack fixture checked
    from runbook_runtime.published import get_published

    runbook_id, version = runbook["meta"]["name"], runbook["meta"]["version"]
    data = {"playbook_id": runbook_id, "version": version, "name": runbook_id, "runbook": runbook}
    compiled = Envelope(type="runbook.compiled", org_id=org, source="e2e", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled.model_dump(mode="json")], key=org)
    db = Database(infra.database_url, pool_size=1)
    try:
        async with db.tenant_transaction(org) as session:
            await put_policy(
                session=session, org_id=org, policy=OrgPolicy(automation_real_runs=True), actor="test-admin"
            )

        async def stored() -> bool:
            async with db.tenant_transaction(org) as session:
                try:
                    return bool(
                        await get_published(session=session, org_id=org, runbook_id=runbook_id, version=version)
                    )
                except NotFound:
                    return False

        await eventually(stored, timeout=30, interval=0.3)
    finally:
        await db.dispose()
    return runbook_id, version


async def rds_result(agent: httpx.AsyncClient, infra: Infra, org: str) -> dict[str, Any] | None:
    r = await agent.post("/api/playbook/search", json={"query": RDS_QUERY, "limit": 5}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return next((x for x in r.json()["results"] if x["playbook_id"] == LIBRARY_PLAYBOOK), None)


async def test_flow1_upstream_event_to_runbook_execution_and_stats(stack: Stack, org: str) -> None:
    infra = stack.infra
    auth = infra.auth(org)
    if stack.has(AGENT):
        async with stack.client(AGENT) as agent:
            before = await rds_result(agent, infra, org)
            assert before is not None and before["stats"]["success_count"] == 0

    runbook_id, runbook_version = await publish_for_automation(infra, org, echo_runbook())
    async with stack.client("condition-engine") as ce:
        action = {
            "type": "enqueue_task",
            "params": {
                "queue": "runbook",
                # Real mode under the operator's cap (echo only): the runtime counts only real runs as
                # executions of a playbook; dry-run plans and replays are tests and publish no outcome.
                "mode": "real",
                # The runbook the org published; the event fills its declared var, nothing else.
                "runbook_id": runbook_id,
                "runbook_version": runbook_version,
                "vars": {"target": "{{ activity.metadata.target }}"},
                "playbook_id": LIBRARY_PLAYBOOK,
                "playbook_version": LIBRARY_VERSION,
            },
        }
        playbook = {
            "name": "Stop RDS when the weekend starts",
            "trigger": "activity_event",
            "conditions": [{"field": "activity.type", "op": "equals", "value": "weekend_started"}],
            "actions": [action],
            "status": "active",
        }
        r = await ce.post("/api/playbooks", json=playbook, headers=auth)
        assert r.status_code == 201, r.text
        playbook_id = r.json()["id"]

        event_id = str(uuid.uuid4())
        upstream = {
            "orgId": org,
            "id": event_id,
            "activity": {"type": "weekend_started", "metadata": {"target": "db-7"}},
        }
        ignored = {"orgId": org, "id": str(uuid.uuid4()), "activity": {"type": "deck_saved"}}
        await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [upstream, ignored], key=org)

        async def run_recorded() -> list[dict[str, Any]]:
            page = (await ce.get("/api/playbook-runs", params={"playbook": playbook_id}, headers=auth)).json()
            return [x for x in page["items"] if x["status"] != "pending"] if len(page["items"]) == 2 else []

        runs = await eventually(run_recorded, timeout=30)
        by_event = {x["eventId"]: x for x in runs}
        assert by_event[event_id]["status"] == "success", by_event[event_id]
        assert {x["status"] for x in runs} == {"success", "skipped"}

    executed = await collect(
        infra.kafka_bootstrap,
        PLAYBOOK_EXECUTIONS.name,
        where=lambda m: m.value.get("org_id") == org,
        timeout=30,
        settle=1,
    )
    assert len(executed) == 1
    outcome = executed[0].value["data"]
    assert (outcome["playbook_id"], outcome["version"], outcome["success"]) == (LIBRARY_PLAYBOOK, LIBRARY_VERSION, True)

    async with stack.client("runbook-runtime") as rt:
        [run] = (await rt.get("/v1/runs", headers=auth)).json()["items"]
        assert run["run_id"] == outcome["run_id"] and run["status"] == "passed" and run["mode"] == "real"
        assert run["vars"]["target"] == "db-7" and run["captures"] == {"out": "stopped db-7"}
        assert run["requested_by"] == f"playbook:{playbook_id}"
        assert (await rt.get(f"/v1/runs/{run['run_id']}/verify", headers=auth)).json() == {"ok": True, "problems": []}

    if not stack.has(AGENT):
        pytest.skip(f"{AGENT} is not installed: its stats and search were not checked")
    async with stack.client(AGENT) as agent:

        async def counted() -> dict[str, Any] | None:
            found = await rds_result(agent, infra, org)
            return found if found and found["stats"]["success_count"] == 1 else None

        after = await eventually(counted, timeout=30, interval=0.3)
        assert after["stats"]["failure_count"] == 0 and after["stats"]["success_rate"] == 1.0
        assert "1/1 successful runs" in after["reason"]
        # The record is this tenant's own: another tenant's search is unchanged.
        assert (await rds_result(agent, infra, f"{org}-other"))["stats"]["success_count"] == 0  # type: ignore[index]


# -- flow 2 ----------------------------------------------------------------------------------------

TSG = """# Nginx returns 502 on the web tier

When the web tier answers 502, check the proxy and its upstream before anything else.

## Check the service

```bash
ss -ltn
curl -sS http://localhost/healthz
```

## Look at the error log

```bash
tail -n 50 /var/log/nginx/error.log
```
"""

# What the commands answered when the guide was last followed (cli-replay scenario).
SCENARIO = {
    "meta": {"name": "nginx-502-recorded"},
    "steps": [
        {"match": {"argv": ["ss", "-ltn"]}, "respond": {"stdout": "LISTEN 0 511 0.0.0.0:80\n"}},
        {"match": {"argv": ["curl", "-sS", "http://localhost/healthz"]}, "respond": {"stdout": "ok\n"}},
        {
            "match": {"argv": ["tail", "-n", "50", "/var/log/nginx/error.log"]},
            "respond": {"stdout": "upstream timed out\n"},
        },
    ],
}


async def test_flow2_tsg_compiled_reviewed_found_replayed_verified(stack: Stack, org: str) -> None:
    if not stack.has(AGENT):
        pytest.skip(f"{AGENT} is not installed: flow 2 needs its review lifecycle and search")
    infra = stack.infra
    auth = infra.auth(org, user_id="ana")
    pid, version = f"tsg-nginx-{uuid.uuid4().hex[:8]}", "1.0.0"
    async with stack.client("compiler") as compiler:
        body = {
            "markdown": TSG,
            "source_name": "nginx-502.md",
            "engine": "rules",
            "publish": True,
            "playbook_id": pid,
            "version": version,
        }
        r = await compiler.post("/api/compile", json=body, headers=auth)
        assert r.status_code == 200, r.text
        compiled = r.json()
        assert compiled["valid"] is True and compiled["published"]["playbook_id"] == pid
        assert [s["type"] for s in compiled["runbook"]["steps"]] == ["cli", "cli", "cli"]

    path = f"/api/playbook/metadata/{org}/{pid}/{version}"
    async with stack.client(AGENT) as agent:

        async def published() -> dict[str, Any] | None:
            r = await agent.get(path, headers=auth)
            return r.json() if r.status_code == 200 else None

        pending = await eventually(published, timeout=30, interval=0.3)
        assert pending["status"] == "pending_review" and pending["storage_strategy"] == "uploaded_for_review"
        assert pending["document"]["runbook"] == compiled["runbook"]

        # four eyes: the author who compiled and published it cannot approve it; another reviewer does
        r = await agent.post(f"{path}/status", json={"status": "approved"}, headers=auth)
        assert r.status_code == 403 and "four eyes" in r.json()["detail"], r.text
        other = infra.auth(org, user_id="rita", roles=["reviewer"])
        r = await agent.post(f"{path}/status", json={"status": "approved"}, headers=other)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["storage_strategy"] == "uploaded_trusted"

        r = await agent.post(
            "/api/playbook/search", json={"query": "nginx returns 502 bad gateway", "limit": 5}, headers=auth
        )
        assert r.status_code == 200, r.text
        found = {x["playbook_id"]: x for x in r.json()["results"]}
        assert pid in found, [x["playbook_id"] for x in r.json()["results"]]
        assert found[pid]["status"] == "approved" and found[pid]["version"] == version
        runbook = (await agent.get(path, headers=auth)).json()["document"]["runbook"]

    async with stack.client("runbook-runtime") as rt:
        body = {
            "runbook": runbook,
            "mode": "replay",
            "scenario": SCENARIO,
            "start": True,
            "playbook_id": pid,
            "playbook_version": version,
        }
        r = await rt.post("/v1/runs", json=body, headers=auth)
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["status"] == "passed", [(h["step_id"], h["error"]) for h in run["history"]]
        assert [h["step_id"] for h in run["history"]] == [s["id"] for s in runbook["steps"]]
        verdict = (await rt.get(f"/v1/runs/{run['run_id']}/verify", headers=auth)).json()
        assert verdict == {"ok": True, "problems": []}
        # The same check fails for a replay whose recording lacks a command: verify is not a rubber stamp.
        short = SCENARIO | {"steps": SCENARIO["steps"][:1]}
        r = await rt.post("/v1/runs", json=body | {"scenario": short}, headers=auth)
        bad = (await rt.get(f"/v1/runs/{r.json()['run_id']}/verify", headers=auth)).json()
        assert bad["ok"] is False and bad["problems"][0].startswith(runbook["steps"][1]["id"])


# -- flow 4 ----------------------------------------------------------------------------------------


def goal_runbook() -> dict[str, Any]:
    """A runbook with declared vars for a goal to fill. Its aws commands make it a stop (the ranking reads what
    a runbook does from its commands); this stack's operator cap allows only echo, so the dry-run marks them
    refused for real runs, and the confirmed run is a replay."""
    stop = [
        "aws",
        "rds",
        "stop-db-instance",
        "--db-instance-identifier",
        "{{ .instance_id }}",
        "--region",
        "{{ .region }}",
    ]
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "goal-rds-weekend",
            "version": "1.0.0",
            "vars": {
                "environment": {"allowed": ["production", "staging"]},
                "instance_id": {"description": "RDS instance identifier"},
                "region": {"allowed": ["us-east-1", "eu-west-1"], "description": "AWS region"},
            },
            "governance": {"allowed_commands": ["aws"]},
        },
        "steps": [
            {
                "id": "describe",
                "type": "cli",
                "with": {
                    "argv": ["aws", "rds", "describe-db-instances", "--db-instance-identifier", "{{ .instance_id }}"]
                },
            },
            {"id": "stop", "type": "cli", "with": {"argv": stop}},
        ],
    }


async def runtime_holds(infra: Infra, org: str, runbook_id: str, version: str) -> None:
    """Wait until runbook-runtime stored the published runbook (it takes it from runbooks.compiled.v1 too)."""
    from runbook_runtime.published import get_published

    db = Database(infra.database_url, pool_size=1)
    try:

        async def stored() -> bool:
            async with db.tenant_transaction(org) as session:
                try:
                    return bool(
                        await get_published(session=session, org_id=org, runbook_id=runbook_id, version=version)
                    )
                except NotFound:
                    return False

        await eventually(stored, timeout=30, interval=0.3)
    finally:
        await db.dispose()


async def test_flow4_goal_in_words_to_a_confirmed_replayed_run(stack: Stack, org: str) -> None:
    """Words -> questions -> answers -> dry-run plan -> confirm -> replayed run -> goal succeeded, every
    service its own process: the goal's requests and the runtime's announcements cross the broker."""
    if not stack.has(AGENT):
        pytest.skip(f"{AGENT} is not installed: goals live there")
    infra = stack.infra
    runbook = goal_runbook()
    pid, version = f"goal-rds-{uuid.uuid4().hex[:8]}", "1.0.0"
    data = {
        "playbook_id": pid,
        "version": version,
        "name": "Stop RDS instance for the weekend",
        "description": "Snapshot an Amazon RDS database instance, then stop it for the weekend",
        "runbook": runbook,
    }
    compiled = Envelope(type="runbook.compiled", org_id=org, source="http:ana", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled.model_dump(mode="json")], key=org)
    olga = infra.auth(org, user_id="olga", roles=["runner"])
    path = f"/api/playbook/metadata/{org}/{pid}/{version}"
    async with stack.client(AGENT) as agent, stack.client("runbook-runtime") as rt:

        async def published() -> bool:
            return (await agent.get(path, headers=olga)).status_code == 200

        await eventually(published, timeout=30, interval=0.3)
        reviewer = infra.auth(org, user_id="rita", roles=["reviewer"])
        assert (await agent.post(f"{path}/status", json={"status": "approved"}, headers=reviewer)).status_code == 200
        await runtime_holds(infra, org, pid, version)

        r = await agent.post("/api/goals", json={"text": "Stop production RDS orders-db for the weekend"}, headers=olga)
        assert r.status_code == 201, r.text
        goal = r.json()
        assert goal["playbook"]["playbook_id"] == pid and goal["status"] == "collecting", goal
        values = {p["name"]: (p["value"], p["source"]) for p in goal["parameters"]}
        assert values == {"environment": ("production", "intent"), "instance_id": ("orders-db", "words")}
        assert [q["name"] for q in goal["questions"]] == ["region"]
        url = f"/api/goals/{goal['id']}"
        r = await agent.post(f"{url}/answers", json={"answers": {"region": "eu-west-1"}}, headers=olga)
        assert r.status_code == 200 and r.json()["status"] == "planning", r.text

        async def at(*statuses: str) -> dict[str, Any] | None:
            current = (await agent.get(url, headers=olga)).json()
            return current if current["status"] in statuses else None

        goal = await eventually(lambda: at("planned", "failed"), timeout=45, interval=0.3)
        assert goal["status"] == "planned", goal["reason"]
        stop = ["aws", "rds", "stop-db-instance", "--db-instance-identifier", "orders-db", "--region", "eu-west-1"]
        assert goal["plan"][1]["argv"] == stop
        # the operator's cap (echo) would refuse them in a real run: the goal says so before anyone confirms
        assert any(w.startswith("step stop: refused") for w in goal["warnings"]), goal["warnings"]
        describe = ["aws", "rds", "describe-db-instances", "--db-instance-identifier", "orders-db"]
        recording = {
            "meta": {"name": "goal-recorded"},
            "steps": [
                {
                    "match": {"argv": describe},
                    "respond": {"stdout": '{"DBInstances": [{"DBInstanceStatus": "available"}]}'},
                },
                {"match": {"argv": stop}, "respond": {"stdout": '{"DBInstance": {"DBInstanceStatus": "stopping"}}'}},
            ],
        }
        r = await agent.post(f"{url}/confirm", json={"mode": "replay", "scenario": recording}, headers=olga)
        assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
        goal = await eventually(lambda: at("succeeded", "failed"), timeout=45, interval=0.3)
        assert goal["status"] == "succeeded" and goal["run_status"] == "passed", goal
        run = (await rt.get(f"/v1/runs/{goal['run_id']}", headers=olga)).json()
        assert run["status"] == "passed" and run["mode"] == "replay" and run["requested_by"] == "olga"
