"""needs, artifacts and on_duplicate over HTTP against the real PostgreSQL: runs that create artifacts, a
second run reusing them, a third refusing the duplicate, a failure that skips only its dependents."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from playbooks_dev.testing import Infra, running_service


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo", "printf"]) as (client, runtime, _):
        yield client, runtime


def producing(on_duplicate: str | None = None, *, instance: str = "db-7") -> dict[str, Any]:
    extra = {"on_duplicate": on_duplicate} if on_duplicate else {}
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "weekend-stop",
            "vars": {"instance_id": instance, "date": "2026-12-05"},
            "governance": {"allowed_commands": ["echo", "printf"]},
        },
        "steps": [
            {
                "id": "find",
                "type": "cli",
                "with": {"argv": ["echo", "{{ .instance_id }}"]},
                "capture": {"db": "stdout"},
            },
            {
                "id": "snapshot",
                "type": "cli",
                "needs": ["find"],
                "with": {"argv": ["echo", "snapshot of {{ .db }}"]},
                "produces": {"name": "rds_snapshot", "signature": "rds-snapshot:{{ .db }}:{{ .date }}"},
                **extra,
            },
            {
                "id": "stop",
                "type": "cli",
                "needs": ["snapshot"],
                "with": {"argv": ["echo", "stopped {{ .db }}"]},
                "produces": {"name": "stopped_instance", "signature": "stopped:{{ .db }}:{{ .date }}"},
                **extra,
            },
        ],
    }


async def start(client, infra: Infra, org: str, doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    headers = infra.auth(org) | {"Idempotency-Key": str(uuid.uuid4())}
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "real", "start": True, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_run_creates_artifacts_a_second_reuses_them_a_third_refuses_the_duplicate(
    rt, infra: Infra, org: str
) -> None:
    client, _ = rt
    first = await start(client, infra, org, producing())
    assert first["status"] == "passed"
    bundle = first["artifacts"]
    assert [(a["name"], a["signature"], a["status"], a["run_id"]) for a in bundle] == [
        ("rds_snapshot", "rds-snapshot:db-7:2026-12-05", "created", first["run_id"]),
        ("stopped_instance", "stopped:db-7:2026-12-05", "created", first["run_id"]),
    ]
    assert bundle[1]["links"] == ["rds-snapshot:db-7:2026-12-05"]
    trace = (await client.get(f"/v1/runs/{first['run_id']}/trace", headers=infra.auth(org))).json()
    assert [e["artifact"]["signature"] for e in trace if e["event"] == "artifact"] == [a["signature"] for a in bundle]

    reused = await start(client, infra, org, producing("reuse"))
    assert reused["status"] == "passed"
    assert [(r["step_id"], r["reused"]) for r in reused["history"]] == [
        ("find", False),
        ("snapshot", True),
        ("stop", True),
    ]
    assert {a["status"] for a in reused["artifacts"]} == {"reused"}
    assert {a["run_id"] for a in reused["artifacts"]} == {first["run_id"]}  # who created them

    refused = await start(client, infra, org, producing("fail"))
    assert refused["status"] == "failed" and refused["current_step"] == "snapshot"
    error = refused["history"][-1]["error"]
    assert "rds-snapshot:db-7:2026-12-05" in error and first["run_id"] in error

    # another instance is another signature: created, not reused
    other = await start(client, infra, org, producing("reuse", instance="db-8"))
    assert [a["status"] for a in other["artifacts"]] == ["created", "created"]


async def test_the_same_idempotency_key_never_re_executes(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    headers = infra.auth(org) | {"Idempotency-Key": "same-key"}
    body = {"runbook": producing("fail", instance="db-9"), "mode": "real", "start": True}
    one = (await client.post("/v1/runs", json=body, headers=headers)).json()
    again = await client.post("/v1/runs", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["run_id"] == one["run_id"]
    assert again.json()["status"] == "passed" and again.json()["artifacts"] == one["artifacts"]


async def test_a_dependency_failure_skips_only_its_dependents(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    doc = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "graph", "governance": {"allowed_commands": ["echo", "printf"]}},
        "steps": [
            {"id": "bad", "type": "cli", "with": {"argv": ["printf", "no"]}, "assertions": [{"contains": "yes"}]},
            {"id": "child", "type": "cli", "needs": ["bad"], "with": {"argv": ["echo", "child"]}},
            {"id": "free", "type": "cli", "with": {"argv": ["echo", "free"]}},
            {"id": "after_free", "type": "cli", "needs": ["free"], "with": {"argv": ["echo", "after"]}},
        ],
    }
    run = await start(client, infra, org, doc)
    assert run["status"] == "failed"
    assert [(r["step_id"], r["status"]) for r in run["history"]] == [
        ("bad", "failed"),
        ("child", "skipped"),
        ("free", "passed"),
        ("after_free", "passed"),
    ]
    assert run["history"][1]["error"] == "needs bad, which failed"
    verify = (await client.get(f"/v1/runs/{run['run_id']}/verify", headers=infra.auth(org))).json()
    assert "child: skipped: needs bad, which failed" in verify["problems"]


async def test_a_cycle_or_unknown_need_is_a_422_naming_the_steps(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    doc = producing()
    doc["steps"][0]["needs"] = ["stop"]
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "dry-run"}, headers=infra.auth(org))
    assert r.status_code == 422 and "needs form a cycle: find -> stop -> snapshot -> find" in r.text
    doc["steps"][0]["needs"] = ["ghost"]
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "dry-run"}, headers=infra.auth(org))
    assert r.status_code == 422 and "step 'find' needs 'ghost', which is not a step of this runbook" in r.text


async def test_a_checkpoint_waits_shows_the_plan_and_takes_a_confirmation_over_the_approvals_endpoint(
    rt, infra: Infra, org: str
) -> None:
    client, _ = rt
    doc = producing()
    doc["steps"].insert(2, {"id": "go", "type": "checkpoint", "title": "Stop it?", "needs": ["snapshot"]})
    doc["steps"][3]["needs"] = ["go"]
    requester = infra.auth(org, user_id="rita", roles=["runner", "operator"])
    r = await client.post(
        "/v1/runs", json={"runbook": doc, "mode": "real", "start": True}, headers=requester | {"Idempotency-Key": "cp"}
    )
    run = r.json()
    assert run["status"] == "waiting" and run["current_step"] == "go"
    assert [p["step_id"] for p in run["checkpoint_plan"]] == ["go", "stop"]
    assert run["checkpoint_plan"][1]["produces"]["signature"] == "stopped:db-7:2026-12-05"
    assert run["waiting_for"] == ["checkpoint confirmation 0/1 (approver/admin, not the requester)"]
    approver = infra.auth(org, user_id="ann", roles=["approver"])
    r = await client.post(f"/v1/runs/{run['run_id']}/approvals", json={}, headers=approver)
    assert r.status_code == 200 and r.json()["waiting_for"] == []
    r = await client.post(f"/v1/runs/{run['run_id']}/continue", headers=requester)
    assert r.json()["run"]["status"] == "passed"
    checkpoint = next(h for h in r.json()["run"]["history"] if h["step_id"] == "go")
    assert checkpoint["evidence"]["checkpoint"]["confirmed_by"][0]["name"] == "ann"
