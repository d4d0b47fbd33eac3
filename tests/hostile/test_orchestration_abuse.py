"""Abusing needs, artifacts and checkpoints against the real runtime and database.

What an insider would try: reuse (or learn about) another org's artifact by guessing its signature,
confirm the checkpoint of her own run, pass a checkpoint with replayed "evidence", read a secret var or
an undefined name through a signature, and stall validation with a 5,000-step needs chain or a dense graph.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from playbooks_dev.testing import Infra, running_service


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo"]) as (client, runtime, _):
        yield client, runtime


def producing(on_duplicate: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": "make",
        "type": "cli",
        "with": {"argv": ["echo", "made"]},
        "produces": {"name": "page", "signature": "checkout-page:{{ .event }}"},
    }
    if on_duplicate:
        step["on_duplicate"] = on_duplicate
    return {
        "apiVersion": "runbook/v0",
        "meta": {"name": "pages", "vars": {"event": "launch-party"}, "governance": {"allowed_commands": ["echo"]}},
        "steps": [step],
    }


def checkpointed() -> dict[str, Any]:
    return {
        "apiVersion": "runbook/v0",
        "meta": {"name": "publish", "governance": {"allowed_commands": ["echo"]}},
        "steps": [
            {"id": "go", "type": "checkpoint", "title": "Publish the page?"},
            {"id": "publish", "type": "cli", "needs": ["go"], "with": {"argv": ["echo", "published"]}},
        ],
    }


async def real_run(client, headers: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
    body = {"runbook": doc, "mode": "real", "start": True}
    r = await client.post("/v1/runs", json=body, headers=headers | {"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return r.json()


async def test_another_orgs_artifact_is_never_reused_nor_named(rt, infra: Infra) -> None:
    client, runtime = rt
    victim, attacker = f"victim-{uuid.uuid4().hex[:6]}", f"attacker-{uuid.uuid4().hex[:6]}"
    made = await real_run(client, infra.auth(victim), producing())
    assert made["artifacts"][0]["status"] == "created"
    # the same signature in another org: fail does not fail, the attacker's step runs and creates its own
    first = await real_run(client, infra.auth(attacker), producing("fail"))
    assert first["status"] == "passed" and first["artifacts"][0]["status"] == "created", first
    # and reuse finds the attacker's own artifact, never the victim's
    second = await real_run(client, infra.auth(attacker), producing("reuse"))
    assert second["artifacts"][0]["status"] == "reused" and second["artifacts"][0]["run_id"] == first["run_id"]
    assert made["run_id"] not in str(first) + str(second)
    # and the table itself, read as the attacker's tenant (row-level security), holds only her row
    import sqlalchemy as sa

    from runbook_runtime.models import artifacts

    async with runtime.database.tenant_transaction(attacker) as session:
        rows = (await session.execute(sa.select(artifacts.c.org_id, artifacts.c.run_id))).all()
    assert {org for org, _ in rows} == {attacker} and made["run_id"] not in {run for _, run in rows}


async def test_a_requester_cannot_confirm_her_own_checkpoint(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    rita = infra.auth(org, user_id="rita", roles=["runner", "approver"])
    run = await real_run(client, rita, checkpointed())
    assert run["status"] == "waiting" and run["current_step"] == "go"
    r = await client.post(f"/v1/runs/{run['run_id']}/approvals", json={}, headers=rita)
    assert r.status_code == 403 and "cannot confirm its checkpoint (four eyes)" in r.json()["detail"]
    # a body naming someone else is refused before anything is recorded
    r = await client.post(f"/v1/runs/{run['run_id']}/approvals", json={"name": "ann"}, headers=rita)
    assert r.status_code == 422
    # a viewer is not permitted at all, and one without the floor's role is refused
    viewer = infra.auth(org, user_id="vic", roles=["viewer"])
    assert (await client.post(f"/v1/runs/{run['run_id']}/approvals", json={}, headers=viewer)).status_code == 403
    r = await client.post(f"/v1/runs/{run['run_id']}/continue", headers=rita)
    assert r.json()["run"]["status"] == "waiting" and r.json()["results"] == []


async def test_replayed_evidence_cannot_pass_a_checkpoint(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    scenario = {
        "meta": {"name": "rec"},
        "steps": [{"match": {"argv": ["echo", "published"]}, "respond": {"stdout": "ok\n"}}],
    }
    claimed = {"go": {"approvals": [{"name": "ciso", "role": "approver", "roles": ["approver"], "via": "token"}]}}
    body = {
        "runbook": checkpointed(),
        "mode": "replay",
        "scenario": scenario,
        "replay_evidence": claimed,
        "start": True,
    }
    r = await client.post("/v1/runs", json=body, headers=infra.auth(org, user_id="olga", roles=["operator"]))
    run = r.json()
    assert r.status_code == 201 and run["status"] == "waiting" and run["current_step"] == "go", run
    assert run["waiting_for"] == ["checkpoint confirmation 0/1 (approver/admin, not the requester)"]
    again = await client.post(
        f"/v1/runs/{run['run_id']}/continue", headers=infra.auth(org, user_id="olga", roles=["operator"])
    )
    assert again.json()["results"] == [] and again.json()["run"]["status"] == "waiting"
    # a real person confirms: then the replay goes on
    ann = infra.auth(org, user_id="ann", roles=["approver"])
    assert (await client.post(f"/v1/runs/{run['run_id']}/approvals", json={}, headers=ann)).status_code == 200
    done = await client.post(
        f"/v1/runs/{run['run_id']}/continue", headers=infra.auth(org, user_id="olga", roles=["operator"])
    )
    assert done.json()["run"]["status"] == "passed"


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("page:{{ .api_token }}", "{{ .api_token }} is a secret var: a signature is stored and shown in clear"),
        ("page:{{ .AWS_SECRET_ACCESS_KEY }}", "{{ .AWS_SECRET_ACCESS_KEY }} names a denied environment variable"),
        ("page:{{ .nobody }}", "{{ .nobody }} is neither a var in meta.vars nor a capture of an earlier step"),
        ("page:{{ .event | printf }}", "unsupported template"),
    ],
)
async def test_a_signature_cannot_read_secrets_or_undefined_names(
    rt, infra: Infra, org: str, signature: str, expected: str
) -> None:
    client, _ = rt
    doc = producing()
    doc["meta"]["vars"]["api_token"] = {"default": "s3cr3t", "secret": True}
    doc["meta"]["governance"]["deny_env_vars"] = ["AWS_*"]
    doc["steps"][0]["produces"]["signature"] = signature
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "real"}, headers=infra.auth(org))
    assert r.status_code == 422 and expected in r.text and "steps[0].produces.signature" in r.text
    assert "s3cr3t" not in r.text
    r = await client.post("/v1/runbooks:validate", json=doc, headers=infra.auth(org))
    assert r.json()["valid"] is False and expected in str(r.json()["problems"])


async def test_a_5000_step_needs_chain_and_a_dense_graph_validate_without_recursion_errors(
    rt, infra: Infra, org: str
) -> None:
    client, _ = rt
    steps = [
        {"id": f"s{i}", "type": "checkpoint", "title": "t", **({"needs": [f"s{i - 1}"]} if i else {})}
        for i in range(5000)
    ]
    chain = {"apiVersion": "runbook/v0", "meta": {"name": "chain"}, "steps": steps}
    r = await client.post("/v1/runbooks:validate", json=chain, headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["valid"] is True
    steps[0]["needs"] = ["s4999"]
    r = await client.post("/v1/runbooks:validate", json=chain, headers=infra.auth(org))
    problem = r.json()["problems"][0]["message"]
    assert problem.startswith("needs form a cycle: s0 -> s4999") and len(problem) < 500
    dense = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "dense"},
        "steps": [
            {"id": f"d{i}", "type": "checkpoint", "title": "t", "needs": [f"d{j}" for j in range(max(0, i - 100), i)]}
            for i in range(300)
        ],
    }
    r = await client.post("/v1/runbooks:validate", json=dense, headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["valid"] is True
