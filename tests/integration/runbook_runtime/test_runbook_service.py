"""runbook-runtime against a real PostgreSQL and broker: requests, runs, evidence, approvals, replay."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from playbooks_contracts import Envelope
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.topics import (
    PLAYBOOK_EXECUTIONS,
    RUNBOOK_REQUESTS,
    RUNBOOK_RUNS,
    RUNBOOK_STEP_RESULTS,
    RUNBOOKS_COMPILED,
)
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.errors import NotFound
from runbook_runtime.org_policy import put_policy
from runbook_runtime.published import get_published


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    # the operator's cap: runbooks may only use these in real mode, whatever they allow themselves
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo", "printf", "touch"]) as (
        client,
        runtime,
        _app,
    ):
        yield client, runtime


def runbook(*, with_manual: bool = True, fail: bool = False) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "one", "type": "cli", "with": {"argv": ["echo", "{{ .name }}"]}, "capture": {"who": "stdout"}},
        {"id": "two", "type": "cli", "with": {"argv": ["printf", "token=abc123"]}},
        {
            "id": "three",
            "type": "cli",
            "with": {"argv": ["echo", "hi {{ .who }}"]},
            "assertions": [{"contains": "nobody" if fail else "hi db"}],
        },
    ]
    if with_manual:
        steps.append(
            {
                "id": "confirm",
                "type": "manual",
                "title": "Confirm the dashboard",
                "required_evidence": [
                    {"kind": "text", "name": "link"},
                    {"kind": "attachment", "name": "shot"},
                ],
                "approvals": {"min": 1, "roles": ["DRI"]},
            }
        )
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "restart-db",
            "version": "3",
            "vars": {"name": "db"},
            "governance": {
                "allowed_commands": ["echo", "printf"],
                "redact": [{"pattern": "token=\\S+", "replace": "token=<redacted>"}],
            },
        },
        "steps": steps,
    }


def request(org: str, request_id: str, **data: Any) -> dict[str, Any]:
    env = Envelope(type="runbook.requested", org_id=org, source="test", data={"request_id": request_id, **data})
    return env.model_dump(mode="json")


def for_org(org: str):
    return lambda r: r.value.get("org_id") == org


async def publish(infra: Infra, runtime: Any, org: str, runbook_id: str, version: str, doc: dict[str, Any]) -> None:
    """Publish a runbook as the compiler does, and wait until the runtime has it."""
    data = {"playbook_id": runbook_id, "version": version, "name": doc["meta"]["name"], "runbook": doc}
    env = Envelope(type="runbook.compiled", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")], key=org)

    async def stored() -> bool:
        async with runtime.database.tenant_transaction(org) as session:
            try:
                await get_published(session=session, org_id=org, runbook_id=runbook_id, version=version)
            except NotFound:
                return False
            return True

    await eventually(stored)


async def allow_automation_real_runs(runtime: Any, org: str) -> None:
    async with runtime.database.tenant_transaction(org) as session:
        await put_policy(session=session, org_id=org, policy=OrgPolicy(automation_real_runs=True), actor="test-admin")


async def test_a_failed_execution_names_its_step_and_carries_no_secret_value(rt, infra: Infra, org: str) -> None:
    """What the learning reads (overrides, the failing step) is in the outcome; a secret var's value is not."""
    _client, runtime = rt
    doc = runbook(with_manual=False, fail=True)
    doc["meta"]["vars"]["password"] = {"secret": True, "default": "hunter2-not-for-the-bus"}
    await publish(infra, runtime, org, "restart-db", "3", doc)
    await allow_automation_real_runs(runtime, org)
    msg = request(org, "req-f", mode="real", runbook_id="restart-db", runbook_version="3", playbook_id="pb-9")
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [msg], key=org)
    [executed] = await collect(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=for_org(org))
    data = executed.value["data"]
    assert data["success"] is False and data["failed_step"] == "three" and data["error"]
    assert data["parameters"] == {"name": "db"}
    assert "hunter2" not in json.dumps(executed.value)


async def test_request_on_the_topic_runs_and_publishes_step_results_and_the_execution(
    rt, infra: Infra, org: str
) -> None:
    client, runtime = rt
    await publish(infra, runtime, org, "restart-db", "3", runbook(with_manual=False))
    await allow_automation_real_runs(runtime, org)
    msg = request(
        org,
        "req-1",
        mode="real",
        runbook_id="restart-db",
        runbook_version="3",
        playbook_id="pb-9",
        playbook_version="2",
    )
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [msg, msg], key=org)  # a redelivery too

    results = await collect(infra.kafka_bootstrap, RUNBOOK_STEP_RESULTS.name, where=for_org(org), count=3, settle=0.5)
    assert [r.value["data"]["step_id"] for r in results] == ["one", "two", "three"]
    assert {r.value["data"]["status"] for r in results} == {"passed"}
    [executed] = await collect(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=for_org(org))
    assert executed.value["data"] | {"duration_ms": 0} == {
        "playbook_id": "pb-9",
        "version": "2",
        "run_id": results[0].value["data"]["run_id"],
        "success": True,
        "duration_ms": 0,
        "error": None,
        "failed_step": None,
        "parameters": {"name": "db"},
    }
    runs = (await client.get("/v1/runs", headers=infra.auth(org))).json()["items"]
    assert len(runs) == 1 and runs[0]["status"] == "passed"
    assert runs[0]["captures"] == {"who": "db"}
    trace = (await client.get(f"/v1/runs/{runs[0]['run_id']}/trace", headers=infra.auth(org))).json()
    assert "abc123" not in str(trace) and trace[-2]["event"] == "run_finished"


async def test_invalid_runbook_and_request_are_dead_lettered_with_the_reason(rt, infra: Infra, org: str) -> None:
    invalid = {"apiVersion": "runbook/v0", "meta": {"name": "x"}, "steps": [{"id": "a", "type": "shell"}]}
    data = {"playbook_id": "x", "version": "1", "name": "x", "runbook": invalid}
    compiled = Envelope(type="runbook.compiled", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled.model_dump(mode="json")], key=org)
    # recommendation-agent also consumes this topic (and dead-letters it for its own reason) when one of its
    # consumers is alive in the same test session: read this service's dead letter
    [dead] = await collect(
        infra.kafka_bootstrap,
        RUNBOOKS_COMPILED.dlq,
        where=lambda r: for_org(org)(r) and "runbook-runtime" in r.headers.get("dlq.consumer_group", ""),
    )
    assert "invalid runbook" in str(dead.headers)
    # so a request naming it finds nothing to run
    bad = request(org, "req-bad", mode="dry-run", runbook_id="x", runbook_version="1")
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [bad], key=org)
    [dead] = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.dlq, where=for_org(org))
    assert "no published runbook x@1" in dead.headers["dlq.error"]


async def test_manual_step_with_evidence_and_approval_over_http(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    headers = infra.auth(org) | {"Idempotency-Key": "inc-7"}
    r = await client.post("/v1/runs", json={"runbook": runbook(), "mode": "real", "start": True}, headers=headers)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "waiting" and run["current_step"] == "confirm"
    # the org's floor (approver or admin) and the step's own roles (DRI) both apply
    assert run["waiting_for"] == ["link", "shot", "approval 0/1 (approver/admin and DRI)"]
    again = await client.post("/v1/runs", json={"runbook": runbook(), "mode": "real", "start": True}, headers=headers)
    assert again.status_code == 200 and again.json()["run_id"] == run["run_id"] and len(again.json()["history"]) == 3

    rid = run["run_id"]
    auth = infra.auth(org)
    r = await client.post(f"/v1/runs/{rid}/evidence", json={"name": "link", "value": "https://dash"}, headers=auth)
    assert r.status_code == 200, r.text
    shot = {"name": "shot", "filename": "../../etc/shot.png", "content_base64": base64.b64encode(b"png").decode()}
    assert (await client.post(f"/v1/runs/{rid}/evidence", json=shot, headers=auth)).status_code == 200
    wrong = await client.post(f"/v1/runs/{rid}/evidence", json={"name": "nope", "value": "x"}, headers=auth)
    assert wrong.status_code == 422 and "no evidence named 'nope'" in wrong.json()["detail"]
    # the requester cannot approve her own run, a body cannot claim a role, and roles come from the token
    denied = await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=auth)
    assert denied.status_code == 403 and "cannot approve" in denied.json()["detail"]
    dri = infra.auth(org, user_id="alice", roles=["approver", "DRI"])
    claimed = await client.post(f"/v1/runs/{rid}/approvals", json={"role": "DRI"}, headers=dri)
    assert claimed.status_code == 422 and "cannot name the approver or a role" in claimed.text
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=dri)).status_code == 200
    r = await client.post(f"/v1/runs/{rid}/next", headers=auth)
    body = r.json()
    assert body["run"]["status"] == "passed" and body["results"][0]["actor"] == "human"
    evidence = body["results"][0]["evidence"]
    assert evidence["attachments"]["shot"]["path"] == "attachments/confirm-shot-shot.png"
    assert evidence["approvals"][0] | {"at": None} == {
        "name": "alice",
        "role": "DRI",
        "roles": ["DRI", "approver"],
        "via": "token",
        "at": None,
    }
    assert (await client.get(f"/v1/runs/{rid}/verify", headers=auth)).json() == {"ok": True, "problems": []}
    names = (await client.get(f"/v1/runs/{rid}/snapshots", headers=auth)).json()
    assert names[0] == "step-0000.json" and "step-0004.json" in names
    snap = (await client.get(f"/v1/runs/{rid}/snapshots/step-0004.json", headers=auth)).json()
    assert snap["status"] == "passed" and snap["current_step_index"] == 4
    finished = await client.post(f"/v1/runs/{rid}/next", headers=auth)
    assert finished.status_code == 409 and "has ended (passed)" in finished.json()["detail"]


async def test_failed_assertion_and_verify_over_http(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    r = await client.post("/v1/runs", json={"runbook": runbook(fail=True), "mode": "real"}, headers=infra.auth(org))
    rid = r.json()["run_id"]
    assert r.json()["status"] == "running" and r.json()["history"] == []
    body = (await client.post(f"/v1/runs/{rid}/continue", headers=infra.auth(org))).json()
    assert body["run"]["status"] == "failed" and body["results"][-1]["error"] == "stdout does not contain 'nobody'"
    verdict = (await client.get(f"/v1/runs/{rid}/verify", headers=infra.auth(org))).json()
    assert verdict["ok"] is False and verdict["problems"][0].startswith("three: assertion failed")


async def test_replay_answers_from_the_scenario(rt, infra: Infra, org: str) -> None:
    client, runtime = rt
    ended = {"kind": "runbook", "mode": "replay", "status": "passed"}
    before = runtime.metrics.total("playbooks_run_duration_seconds_count", **ended)
    doc = runbook(with_manual=False)
    doc["meta"]["governance"]["allowed_commands"] = ["echo", "printf", "kubectl"]
    doc["steps"][1]["with"]["argv"] = ["kubectl", "get", "pods"]  # not installed here: replay must not run it
    scenario = {
        "meta": {"name": "recorded"},
        "steps": [
            {"match": {"argv": ["echo", "db"]}, "respond": {"stdout": "db\n"}},
            {"match": {"argv": ["kubectl", "get", "{{ .any }}"]}, "respond": {"stdout": "web-1 Running"}},
            {"match": {"argv": ["echo", "hi db"]}, "respond": {"stdout": "hi db\n"}},
        ],
    }
    body = {"runbook": doc, "mode": "replay", "scenario": scenario, "start": True}
    r = await client.post("/v1/runs", json=body, headers=infra.auth(org))
    assert r.json()["status"] == "passed", r.json()["history"]
    assert r.json()["captures"] == {"who": "db"}
    # the run's duration is observed once, when the advance that ended it is written
    assert runtime.metrics.total("playbooks_run_duration_seconds_count", **ended) == before + 1
    # replays are not executions of the playbook
    rid = r.json()["run_id"]
    steps = await collect(
        infra.kafka_bootstrap, RUNBOOK_STEP_RESULTS.name, where=lambda m: m.value["data"]["run_id"] == rid, count=3
    )
    assert len(steps) == 3
    assert not await collect(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=for_org(org), timeout=1)


@pytest.mark.parametrize(("deny", "who"), [([], "db"), (["na*"], "placeholder")])
async def test_a_replay_renders_cli_replay_templates_with_the_runs_vars(
    rt, infra: Infra, org: str, deny: list[str], who: str
) -> None:
    client, _ = rt
    doc = runbook(with_manual=False)
    doc["meta"]["governance"]["allowed_commands"] = ["echo", "printf"]
    scenario = {
        # the run's var `name` (db) stands in for cli-replay's environment: it overrides the scenario's
        # default unless deny_env_vars names it
        "meta": {"name": "templated", "vars": {"name": "placeholder"}, "security": {"deny_env_vars": deny}},
        "steps": [
            {"match": {"argv": ["echo", "db"]}, "respond": {"stdout": "{{ .name }}\n", "capture": {"seen": "db"}}},
            {"match": {"argv": ["printf", "{{ .any }}"]}, "respond": {"stdout": "token=abc123"}},
            {"match": {"argv": ["echo", "{{ .any }}"]}, "respond": {"stdout": "hi {{ .capture.seen }}\n"}},
        ],
    }
    body = {"runbook": doc, "mode": "replay", "scenario": scenario, "start": True}
    r = await client.post("/v1/runs", json=body, headers=infra.auth(org))
    assert r.json()["status"] == "passed", r.json()["history"]
    assert r.json()["captures"] == {"who": who}


async def test_dry_run_only_plans(rt, infra: Infra, org: str, tmp_path) -> None:
    client, _ = rt
    marker = tmp_path / "touched"
    doc = runbook()
    doc["meta"]["governance"]["allowed_commands"] = ["touch"]
    doc["steps"][0]["with"]["argv"] = ["touch", str(marker)]
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "dry-run", "start": True}, headers=infra.auth(org))
    run = r.json()
    assert run["status"] == "planned" and run["history"] == [] and not marker.exists()
    assert [p["verdict"].split(":")[0] for p in run["plan"]] == ["allowed", "refused", "refused", "waits for a human"]
    assert (await client.get(f"/v1/runs/{run['run_id']}/trace", headers=infra.auth(org))).json() == []
    nxt = await client.post(f"/v1/runs/{run['run_id']}/next", headers=infra.auth(org))
    assert nxt.status_code == 409


async def test_another_org_cannot_see_runs(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    r = await client.post("/v1/runs", json={"runbook": runbook(), "mode": "dry-run"}, headers=infra.auth(org))
    rid = r.json()["run_id"]
    other = f"other-{uuid.uuid4().hex[:8]}"
    assert (await client.get(f"/v1/runs/{rid}", headers=infra.auth(other))).status_code == 404
    assert (await client.get(f"/v1/runs/{rid}/trace", headers=infra.auth(other))).status_code == 404
    assert (await client.get("/v1/runs", headers=infra.auth(other))).json()["items"] == []
    ev = await client.post(f"/v1/runs/{rid}/evidence", json={"name": "link", "value": "x"}, headers=infra.auth(other))
    assert ev.status_code == 404


async def test_invalid_runbook_over_http_lists_located_problems(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    doc = runbook()
    doc["steps"][0]["with"]["shell"] = "echo"
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "real"}, headers=infra.auth(org))
    assert r.status_code == 422 and "steps[0].with.shell: unknown field" in r.json()["detail"]
    v = await client.post("/v1/runbooks:validate", json=doc, headers=infra.auth(org))
    assert v.json()["problems"] == [{"location": "steps[0].with.shell", "message": "unknown field"}]


async def test_the_operator_cap_wins_over_a_runbooks_own_allow_list(rt, infra: Infra, org: str, tmp_path) -> None:
    client, _ = rt
    marker = tmp_path / "made"
    doc = runbook(with_manual=False)
    doc["meta"]["governance"]["allowed_commands"] = ["echo", "printf", "mkdir"]
    doc["steps"][1]["with"]["argv"] = ["mkdir", str(marker)]
    body = {"runbook": doc, "mode": "real", "start": True}
    run = (await client.post("/v1/runs", json=body, headers=infra.auth(org))).json()
    assert run["status"] == "failed" and not marker.exists()
    assert "not allowed by the operator's cap (allowed: echo, printf, touch)" in run["history"][-1]["error"]


async def test_published_runbooks_are_listed_read_and_started_by_id(rt, infra: Infra, org: str) -> None:
    client, runtime = rt
    auth = infra.auth(org)
    assert (await client.get("/v1/runbooks", headers=auth)).json() == {"items": [], "next_cursor": None, "count": 0}
    doc = runbook(with_manual=False)
    doc["meta"]["description"] = "Restart the database"
    doc["meta"]["vars"] = {"name": {"default": "db", "description": "which database", "allowed": ["db", "cache"]}}
    await publish(infra, runtime, org, "restart-db", "3", doc)
    await publish(infra, runtime, org, "restart-db", "4", runbook())

    page = (await client.get("/v1/runbooks", headers=auth)).json()
    assert [(i["runbook_id"], i["version"]) for i in page["items"]] == [("restart-db", "4"), ("restart-db", "3")]
    three = page["items"][1]
    assert three["name"] == "restart-db" and three["description"] == "Restart the database"
    assert three["steps"] == 3 and page["items"][0]["steps"] == 4
    assert three["vars"] == {"name": {"default": "db", "description": "which database", "allowed": ["db", "cache"]}}
    assert page["items"][0]["vars"] == {"name": {"default": "db"}}  # the short form, as a spec
    first = (await client.get("/v1/runbooks", params={"limit": 1}, headers=auth)).json()
    assert [i["version"] for i in first["items"]] == ["4"] and first["next_cursor"]
    rest = (await client.get("/v1/runbooks", params={"limit": 1, "cursor": first["next_cursor"]}, headers=auth)).json()
    assert [i["version"] for i in rest["items"]] == ["3"] and rest["next_cursor"] is None
    bad = await client.get("/v1/runbooks", params={"cursor": "???"}, headers=auth)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]

    # A search: every word, any case, in the id, name, description or a var's name; count over all pages.
    async def found(q: str, **params: Any) -> tuple[list[str], int]:
        got = (await client.get("/v1/runbooks", params={"q": q, **params}, headers=auth)).json()
        return [i["version"] for i in got["items"]], got["count"]

    assert await found("DATABASE restart") == (["3"], 1)
    assert await found("name") == (["4", "3"], 2)  # the var's name
    assert await found("name", limit=1) == (["4"], 2)
    assert await found("cache") == ([], 0)  # an allowed value is not searched
    assert await found("%") == ([], 0)  # a LIKE wildcard means itself
    many = await client.get("/v1/runbooks", params={"q": " ".join("w" * 9)}, headers=auth)
    assert many.status_code == 422 and "at most 8 words" in many.json()["detail"]

    read = (await client.get("/v1/runbooks/restart-db/3", headers=auth)).json()
    assert read["document"] == doc and read["source"] == "test"
    missing = await client.get("/v1/runbooks/restart-db/9", headers=auth)
    assert missing.status_code == 404 and "no published runbook restart-db@9" in missing.json()["detail"]

    body = {"runbook_id": "restart-db", "runbook_version": "3", "vars": {"name": "cache"}}
    r = await client.post("/v1/runs", json=body, headers=auth)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["mode"] == "dry-run" and run["runbook_name"] == "restart-db" and run["vars"] == {"name": "cache"}
    assert (run["playbook_id"], run["playbook_version"]) == ("restart-db", "3")
    assert [p["step_id"] for p in run["plan"]] == ["one", "two", "three"]
    assert run["plan"][0]["argv"] == ["echo", "cache"]


async def test_a_run_names_one_runbook_source(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    auth = infra.auth(org)
    both = {"runbook": runbook(), "runbook_id": "restart-db", "runbook_version": "3"}
    r = await client.post("/v1/runs", json=both, headers=auth)
    assert r.status_code == 422 and "exactly one of runbook" in r.text
    r = await client.post("/v1/runs", json={"runbook_id": "restart-db"}, headers=auth)
    assert r.status_code == 422 and "runbook_version" in r.text
    r = await client.post("/v1/runs", json={}, headers=auth)
    assert r.status_code == 422 and "exactly one of runbook" in r.text
    r = await client.post("/v1/runs", json={"runbook_id": "nothing", "runbook_version": "1"}, headers=auth)
    assert r.status_code == 404 and "no published runbook nothing@1" in r.json()["detail"]


async def test_a_waiting_run_says_what_its_step_needs(rt, infra: Infra, org: str) -> None:
    client, runtime = rt
    doc = runbook()
    doc["steps"][-1]["instructions"] = "Open the dashboard and check the latency panel."
    doc["steps"][-1]["required_evidence"].append({"kind": "checklist", "name": "checks", "items": ["p99", "errors"]})
    await publish(infra, runtime, org, "restart-db", "5", doc)
    auth = infra.auth(org)
    body = {"runbook_id": "restart-db", "runbook_version": "5", "mode": "real", "start": True}
    r = await client.post("/v1/runs", json=body, headers=auth)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "waiting" and run["current_step"] == "confirm"
    got = (await client.get(f"/v1/runs/{run['run_id']}", headers=auth)).json()
    assert got["waiting_step"] == {
        "id": "confirm",
        "type": "manual",
        "title": "Confirm the dashboard",
        "instructions": "Open the dashboard and check the latency panel.",
        "required_evidence": [
            {"kind": "text", "name": "link", "items": [], "optional": False},
            {"kind": "attachment", "name": "shot", "items": [], "optional": False},
            {"kind": "checklist", "name": "checks", "items": ["p99", "errors"], "optional": False},
        ],
        "approvals": {"min": 1, "roles": ["DRI"], "floor_roles": ["approver", "admin"]},
        "checkpoint": False,
    }
    # the list shows summaries only; a finished run waits at nothing
    listed = (await client.get("/v1/runs", headers=auth)).json()["items"]
    assert listed[0]["waiting_step"] is None
    dry = await client.post("/v1/runs", json={"runbook_id": "restart-db", "runbook_version": "5"}, headers=auth)
    assert dry.json()["waiting_step"] is None


async def test_an_approval_over_http_keeps_the_requests_causation_chain(rt, infra: Infra, org: str) -> None:
    """A run answers the request that started it: what it announces after a person approved over HTTP is
    still caused by that request, one level deeper (not a new chain at depth 0, which a loop through a
    manual step would otherwise use to start over)."""
    client, runtime = rt
    gate = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "gate", "governance": {"allowed_commands": []}},
        "steps": [{"id": "gate", "type": "manual", "title": "Decide", "approvals": {"min": 1, "roles": ["DRI"]}}],
    }
    await publish(infra, runtime, org, "gate", "1", gate)
    await allow_automation_real_runs(runtime, org)
    msg = request(org, "req-gate", mode="real", runbook_id="gate", runbook_version="1") | {"depth": 3}
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [msg], key=org)

    def announced(status: str):
        return lambda r: r.key == org and r.value["data"]["status"] == status

    [waiting] = await collect(infra.kafka_bootstrap, RUNBOOK_RUNS.name, where=announced("waiting"), timeout=30)
    run_id = waiting.value["data"]["run_id"]
    approver = infra.auth(org, user_id="alice", roles=["runner", "approver", "DRI"])
    assert (await client.post(f"/v1/runs/{run_id}/approvals", json={}, headers=approver)).status_code == 200
    r = await client.post(f"/v1/runs/{run_id}/next", headers=approver)
    assert r.json()["run"]["status"] == "passed", r.text
    # (a batch read may hold a redelivered copy: the same id)
    passed = await collect(infra.kafka_bootstrap, RUNBOOK_RUNS.name, where=announced("passed"), timeout=30)
    for answer in [waiting.value, *(m.value for m in passed)]:
        assert answer["causation_id"] == msg["id"] and answer["depth"] == 4
    # A run started over HTTP still starts a chain of its own.
    r = await client.post("/v1/runs", json={"runbook": gate, "mode": "real", "start": True}, headers=approver)
    own = await collect(
        infra.kafka_bootstrap,
        RUNBOOK_RUNS.name,
        where=lambda m: m.key == org and m.value["data"]["run_id"] == r.json()["run_id"],
        timeout=30,
    )
    assert own and all(m.value["depth"] == 0 and m.value.get("causation_id") is None for m in own)


async def test_runs_per_day_are_counted_by_the_service(rt, infra: Infra, org: str) -> None:
    """The console's chart: every day of the window, runs by status, this org's only; older runs out."""
    client, runtime = rt
    gate = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "daily-gate", "governance": {"allowed_commands": []}},
        "steps": [{"id": "gate", "type": "manual", "title": "Decide", "approvals": {"min": 1, "roles": ["DRI"]}}],
    }
    auth = infra.auth(org, roles=["runner"])
    started = []
    for mode in ("real", "dry-run", "real", "real"):
        r = await client.post("/v1/runs", json={"runbook": gate, "mode": mode, "start": mode == "real"}, headers=auth)
        assert r.status_code == 201, r.text
        started.append(r.json()["run_id"])
    async with runtime.database.tenant_transaction(org) as session:  # one 3 days old, one past 30 days
        for run_id, days in ((started[2], 3), (started[3], 40)):
            await session.execute(
                text(
                    "UPDATE runbook_runtime.runs SET created_at = now() - make_interval(days => :d) WHERE run_id = :r"
                ),
                {"d": days, "r": run_id},
            )

    async def daily(who: str = org, **params: str) -> dict[str, Any]:
        r = await client.get("/v1/insights/daily", params=params, headers=infra.auth(who))
        assert r.status_code == 200, r.text
        return r.json()

    week = await daily(window="7d")
    assert [d["total"] for d in week["days"]] == [0, 0, 0, 1, 0, 0, 2] and week["total"] == 3
    assert week["days"][-1]["counts"] == {"waiting": 1, "planned": 1}
    month = await daily(window="30d")
    assert len(month["days"]) == 30 and month["total"] == 3  # the 40-day-old run is out of both
    assert (await daily(window="30d", runbook="daily-gate"))["total"] == 3
    assert (await daily(window="30d", runbook="another"))["total"] == 0
    assert (await daily(f"{org}-other", window="30d"))["total"] == 0
    bad = await client.get("/v1/insights/daily", params={"window": "1y"}, headers=auth)
    assert bad.status_code == 422
