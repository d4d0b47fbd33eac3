"""Who may start, drive and approve runs, against the real runtime, broker and database.

What an insider would try: a viewer starting runs or approving, an operator starting a real run,
a requester approving her own run, one approver counted twice, a runbook lowering the org's
floor, a replay run whose recorded evidence claims approvals "by ciso and cfo" and an attachment
nobody stored, evidence and approvals after a run has ended, an attachment uploaded twice.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_STEP_RESULTS
from playbooks_dev.testing import Infra, collect, running_service


@pytest.fixture
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo"]) as (client, runtime, _):
        yield client, runtime


def gated(approvals: dict[str, Any] | None = None, *, replay_mode: str = "require_new") -> dict[str, Any]:
    gate: dict[str, Any] = {
        "id": "gate",
        "type": "manual",
        "title": "Go / no go",
        "required_evidence": [{"kind": "attachment", "name": "shot"}],
        "replay_mode": replay_mode,
    }
    if approvals is not None:
        gate["approvals"] = approvals
    return {
        "apiVersion": "runbook/v0",
        "meta": {"name": "gated", "governance": {"allowed_commands": ["echo"]}},
        "steps": [
            {"id": "look", "type": "cli", "with": {"argv": ["echo", "ok"]}},
            gate,
            {"id": "after", "type": "cli", "with": {"argv": ["echo", "done"]}},
        ],
    }


SCENARIO = {
    "meta": {"name": "recorded"},
    "steps": [
        {"match": {"argv": ["echo", "ok"]}, "respond": {"stdout": "ok\n"}},
        {"match": {"argv": ["echo", "done"]}, "respond": {"stdout": "done\n"}},
    ],
}


def shot(data: bytes = b"png") -> dict[str, Any]:
    return {"name": "shot", "filename": "shot.png", "content_base64": base64.b64encode(data).decode()}


def who(infra: Infra, org: str, user: str, *roles: str) -> dict[str, str]:
    return infra.auth(org, user_id=user, roles=list(roles))


async def test_a_viewer_starts_nothing_and_approves_nothing_an_operator_runs_nothing_real(
    rt, infra: Infra, org: str
) -> None:
    client, _ = rt
    viewer, operator = who(infra, org, "vic", "viewer"), who(infra, org, "olga", "operator")
    runner = who(infra, org, "rita", "runner")
    for mode, extra in (("dry-run", {}), ("replay", {"scenario": SCENARIO}), ("real", {})):
        r = await client.post("/v1/runs", json={"runbook": gated(), "mode": mode, **extra}, headers=viewer)
        assert r.status_code == 403, (mode, r.text)
        assert r.json()["permission"] == "operate" and "'operate'" in r.json()["detail"]
    real = await client.post("/v1/runs", json={"runbook": gated(), "mode": "real", "start": True}, headers=operator)
    assert real.status_code == 403 and real.json()["permission"] == "run"
    assert "to start a real run" in real.json()["detail"]
    replay = {"runbook": gated(), "mode": "replay", "scenario": SCENARIO}
    assert (await client.post("/v1/runs", json=replay, headers=operator)).status_code == 201
    dry = {"runbook": gated(), "mode": "dry-run"}
    assert (await client.post("/v1/runs", json=dry, headers=operator)).status_code == 201

    # a real run someone else started: the operator cannot advance it, the viewer cannot touch it
    run = (await client.post("/v1/runs", json={"runbook": gated(), "mode": "real"}, headers=runner)).json()
    rid = run["run_id"]
    nxt = await client.post(f"/v1/runs/{rid}/continue", headers=operator)
    assert nxt.status_code == 403 and "to advance a real run" in nxt.json()["detail"]
    assert (await client.get(f"/v1/runs/{rid}", headers=viewer)).json()["history"] == []  # nothing ran
    for path, body in (("approvals", {}), ("reject", {"reason": "no"})):
        r = await client.post(f"/v1/runs/{rid}/{path}", json=body, headers=viewer)
        assert r.status_code == 403 and r.json()["permission"] == "approve"
    for path, body in (("evidence", shot()), ("next", None), ("snapshots", None), ("cancel", None)):
        r = await client.post(f"/v1/runs/{rid}/{path}", json=body, headers=viewer)
        assert r.status_code == 403 and r.json()["permission"] == "operate", path
    # reading stays open to the viewer
    assert (await client.get(f"/v1/runs/{rid}/trace", headers=viewer)).status_code == 200


async def test_four_eyes_the_requester_cannot_approve_and_one_person_counts_once(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    # rita requests, and holds the approver role too
    rita = who(infra, org, "rita", "runner", "approver")
    body = {"runbook": gated({"min": 2, "roles": ["approver"]}), "mode": "real", "start": True}
    run = (await client.post("/v1/runs", json=body, headers=rita)).json()
    rid = run["run_id"]
    assert run["status"] == "waiting" and run["waiting_for"] == ["shot", "approval 0/2 (approver/admin and approver)"]
    assert (await client.post(f"/v1/runs/{rid}/evidence", json=shot(), headers=rita)).status_code == 200

    own = await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=rita)
    assert own.status_code == 403 and "requested run" in own.json()["detail"]
    # a body naming someone else is refused, not believed
    for claim in ({"name": "ciso"}, {"role": "admin"}, {"roles": ["approver"]}, {"by": "cfo"}):
        r = await client.post(f"/v1/runs/{rid}/approvals", json=claim, headers=rita)
        assert r.status_code == 422 and "cannot name the approver" in r.text, claim
    alice = who(infra, org, "alice", "approver")
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=alice)).status_code == 200
    twice = await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=alice)
    assert twice.status_code == 409 and "counts once" in twice.json()["detail"]
    # the same person under a token with other roles is still one person
    alice_admin = who(infra, org, "alice", "approver", "admin")
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=alice_admin)).status_code == 409
    waiting = (await client.post(f"/v1/runs/{rid}/continue", headers=rita)).json()["run"]
    assert waiting["status"] == "waiting" and waiting["waiting_for"] == ["approval 1/2 (approver/admin and approver)"]

    bob = who(infra, org, "bob", "approver")
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=bob)).status_code == 200
    done = (await client.post(f"/v1/runs/{rid}/continue", headers=rita)).json()
    assert done["run"]["status"] == "passed"
    approvals = done["results"][0]["evidence"]["approvals"]
    assert [(a["name"], a["via"]) for a in approvals] == [("alice", "token"), ("bob", "token")]
    trace = (await client.get(f"/v1/runs/{rid}/trace", headers=rita)).json()
    assert [e["name"] for e in trace if e["event"] == "approval"] == ["alice", "bob"]


async def test_a_runbook_cannot_lower_or_widen_the_org_floor(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    runner = who(infra, org, "rita", "runner")
    # min 0 and a role of its own choosing: the default floor (1, approver/admin) still applies
    body = {"runbook": gated({"min": 0, "roles": ["intern"]}), "mode": "real", "start": True}
    run = (await client.post("/v1/runs", json=body, headers=runner)).json()
    rid = run["run_id"]
    assert run["waiting_for"] == ["shot", "approval 0/1 (approver/admin and intern)"]
    await client.post(f"/v1/runs/{rid}/evidence", json=shot(), headers=runner)
    # the intern alone holds no approve permission; an approver who is not an intern is not what the step asks
    intern = await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=who(infra, org, "ian", "intern"))
    assert intern.status_code == 403 and intern.json()["permission"] == "approve"
    plain = await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=who(infra, org, "pam", "approver"))
    assert plain.status_code == 403 and "approver/admin and intern" in plain.json()["detail"]
    assert (await client.post(f"/v1/runs/{rid}/next", headers=runner)).json()["run"]["status"] == "waiting"
    both = who(infra, org, "ina", "approver", "intern")
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=both)).status_code == 200
    assert (await client.post(f"/v1/runs/{rid}/continue", headers=runner)).json()["run"]["status"] == "passed"

    # a manual step without an approvals block is still a gate of a real run
    bare = (
        await client.post("/v1/runs", json={"runbook": gated(), "mode": "real", "start": True}, headers=runner)
    ).json()
    assert bare["waiting_for"] == ["shot", "approval 0/1 (approver/admin)"]

    # a stricter org, set by its admin: the runbook's min 1 is raised to the floor's 2, and the org's roles hold
    strict = {"approvals": {"min": 2, "roles": ["approver"]}}
    put = await client.put("/v1/policy", json=strict, headers=who(infra, org, "ada", "admin"))
    assert put.status_code == 200, put.text
    body = {"runbook": gated({"min": 1}), "mode": "real", "start": True}
    run = (await client.post("/v1/runs", json=body, headers=runner)).json()
    assert run["waiting_for"] == ["shot", "approval 0/2 (approver)"]
    admin_only = await client.post(
        f"/v1/runs/{run['run_id']}/approvals", json={}, headers=who(infra, org, "ada", "admin")
    )
    assert admin_only.status_code == 403 and "needs an approver holding approver" in admin_only.json()["detail"]
    plan = await client.post("/v1/runs", json=body | {"mode": "dry-run"}, headers=runner)
    assert plan.json()["plan"][1]["pauses_for"] == ["attachment shot", "2 approval(s) by approver"]


async def test_recorded_approvals_and_an_invented_blob_do_not_open_a_replay_gate(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    operator = who(infra, org, "olga", "operator")
    invented = "ab" * 32
    recorded = {
        "gate": {
            "approvals": [{"name": "ciso", "role": "approver"}, {"name": "cfo", "role": "approver"}],
            "attachments": {"shot": {"filename": "shot.png", "path": "attachments/x", "sha256": invented, "size": 3}},
        }
    }
    body = {
        "runbook": gated({"min": 2}, replay_mode="reuse_evidence"),
        "mode": "replay",
        "scenario": SCENARIO,
        "replay_evidence": recorded,
        "start": True,
    }
    # recorded evidence means nothing outside a replay run
    real = await client.post("/v1/runs", json=body | {"mode": "real"}, headers=who(infra, org, "rita", "runner"))
    assert real.status_code == 422 and "only for replay runs" in real.json()["detail"]

    r = await client.post("/v1/runs", json=body, headers=operator)
    assert r.status_code == 201, r.text
    run = r.json()
    rid = run["run_id"]
    # the invented attachment was refused, so the gate does not pass
    assert run["status"] == "waiting" and run["waiting_for"] == ["shot"] and run["replay"] is True
    trace = (await client.get(f"/v1/runs/{rid}/trace", headers=operator)).json()
    [refused] = [e for e in trace if e["event"] == "replay_evidence_refused"]
    assert refused["refused"][0].startswith("gate.shot: no stored attachment has sha256 abababab")
    assert {e["mode"] for e in trace} == {"replay"}
    assert all(r["replay"] for r in run["history"])

    # an attachment this org does store (uploaded in an earlier run) is accepted by its sha256
    first = (await client.post("/v1/runs", json=body | {"replay_evidence": None}, headers=operator)).json()
    assert (
        await client.post(f"/v1/runs/{first['run_id']}/evidence", json=shot(b"real"), headers=operator)
    ).status_code == 200
    recorded["gate"]["attachments"]["shot"]["sha256"] = hashlib.sha256(b"real").hexdigest()
    again = (await client.post("/v1/runs", json=body, headers=operator)).json()
    # the replay's gate passes on recorded approvals: inside a replay run only, and marked so everywhere
    assert again["status"] == "passed" and again["replay"] is True, again["waiting_for"]
    gate = next(h for h in again["history"] if h["step_id"] == "gate")
    assert gate["replay"] is True and {a["via"] for a in gate["evidence"]["approvals"]} == {"replay"}
    assert gate["evidence"]["attachments"]["shot"]["size"] == 4
    steps = await collect(
        infra.kafka_bootstrap,
        RUNBOOK_STEP_RESULTS.name,
        where=lambda m: m.value["data"]["run_id"] == again["run_id"],
        count=3,
    )
    assert [m.value["data"]["replay"] for m in steps] == [True, True, True]
    # a replay never counts as an execution of the playbook
    executions = await collect(
        infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=lambda m: m.value["org_id"] == org, timeout=2
    )
    assert executions == []


async def test_nothing_is_accepted_after_a_run_ends_and_an_upload_is_never_replaced(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    runner = who(infra, org, "rita", "runner")
    approver = who(infra, org, "alice", "approver")
    run = (
        await client.post("/v1/runs", json={"runbook": gated(), "mode": "real", "start": True}, headers=runner)
    ).json()
    rid = run["run_id"]
    assert (await client.post(f"/v1/runs/{rid}/evidence", json=shot(), headers=runner)).status_code == 200
    dup = await client.post(f"/v1/runs/{rid}/evidence", json=shot(b"other"), headers=runner)
    assert dup.status_code == 409 and "already has an attachment 'shot'" in dup.json()["detail"]
    await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=approver)
    assert (await client.post(f"/v1/runs/{rid}/continue", headers=runner)).json()["run"]["status"] == "passed"

    failing = gated()
    failing["steps"][0]["assertions"] = [{"contains": "never"}]
    failed = (
        await client.post("/v1/runs", json={"runbook": failing, "mode": "real", "start": True}, headers=runner)
    ).json()
    assert failed["status"] == "failed"
    for ended in (rid, failed["run_id"]):
        for path, body, headers in (
            ("evidence", shot(b"late"), runner),
            ("approvals", {}, approver),
            ("next", None, runner),
            ("continue", None, runner),
            ("snapshots", None, runner),
            ("cancel", None, runner),
            ("reject", {"reason": "late"}, approver),
        ):
            r = await client.post(f"/v1/runs/{ended}/{path}", json=body, headers=headers)
            assert r.status_code == 409 and "has ended" in r.json()["detail"], (path, r.text)


async def test_reject_and_cancel_end_the_run(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    runner = who(infra, org, "rita", "runner")
    approver = who(infra, org, "alice", "approver")
    start = {"runbook": gated(), "mode": "real", "start": True}
    rid = (await client.post("/v1/runs", json=start, headers=runner)).json()["run_id"]
    no_reason = await client.post(f"/v1/runs/{rid}/reject", json={}, headers=approver)
    assert no_reason.status_code == 422
    rejected = await client.post(f"/v1/runs/{rid}/reject", json={"reason": "change freeze"}, headers=approver)
    assert rejected.status_code == 200, rejected.text
    run = rejected.json()
    assert (run["status"], run["ended_by"], run["end_reason"]) == ("rejected", "alice", "change freeze")
    trace = (await client.get(f"/v1/runs/{rid}/trace", headers=runner)).json()
    assert [e["event"] for e in trace if e["event"].startswith("run_")][-2:] == ["run_rejected", "run_finished"]
    assert (await client.post(f"/v1/runs/{rid}/evidence", json=shot(), headers=runner)).status_code == 409

    # only a run waiting at a gate can be rejected
    not_yet = (await client.post("/v1/runs", json=start | {"start": False}, headers=runner)).json()["run_id"]
    r = await client.post(f"/v1/runs/{not_yet}/reject", json={"reason": "x"}, headers=approver)
    assert r.status_code == 409 and "not waiting for an approval" in r.json()["detail"]

    # cancel: another operator may not; the requester may; so may anyone holding `run`
    operator = who(infra, org, "olga", "operator")
    mine = (
        await client.post(
            "/v1/runs", json={"runbook": gated(), "mode": "replay", "scenario": SCENARIO}, headers=operator
        )
    ).json()["run_id"]
    other_op = await client.post(f"/v1/runs/{mine}/cancel", headers=who(infra, org, "oscar", "operator"))
    assert other_op.status_code == 403 and other_op.json()["permission"] == "run"
    by_me = await client.post(f"/v1/runs/{mine}/cancel", json={"reason": "wrong scenario"}, headers=operator)
    assert by_me.status_code == 200 and by_me.json()["status"] == "cancelled"
    by_runner = await client.post(f"/v1/runs/{not_yet}/cancel", headers=who(infra, org, "rob", "runner"))
    assert by_runner.status_code == 200 and by_runner.json()["ended_by"] == "rob"
    assert (await client.post(f"/v1/runs/{not_yet}/next", headers=runner)).status_code == 409
    # neither counts as an execution
    assert not await collect(
        infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=lambda m: m.value["org_id"] == org, timeout=2
    )
