"""runbook-runtime against a real PostgreSQL and broker: requests, runs, evidence, approvals, replay."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_REQUESTS, RUNBOOK_STEP_RESULTS, RUNBOOKS_COMPILED
from playbooks_platform.errors import NotFound
from playbooks_platform.testing import Infra, collect, eventually, produce, running_service
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
    }
    runs = (await client.get("/v1/runs", headers=infra.auth(org))).json()
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
    assert (await client.get("/v1/runs", headers=infra.auth(other))).json() == []
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
