"""A playbook document in recommendation-agent is read whole by everyone in its org (a version, a
search result, a clone): an author cannot store a secret var's value in it as the var's default,
whichever door the version comes in by (HTTP, or a compiled runbook on the bus)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agent_review import agent_service

from playbooks_contracts import Envelope
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, collect, produce

SECRET = "hunter2-do-not-store"


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    async with agent_service(infra, tmp_path_factory.mktemp("secret-defaults")) as service:
        yield service


def runbook(default: str | None) -> dict[str, Any]:
    token: dict[str, Any] = {"secret": True, "description": "API token"}
    if default is not None:
        token["default"] = default
    return {
        "apiVersion": "runbook/v0",
        "meta": {"name": "Rotate the cache", "vars": {"TOKEN": token}, "governance": {"allowed_commands": ["curl"]}},
        "steps": [{"id": "s1", "type": "cli", "with": {"argv": ["curl", "-H", "x-token: {{ .TOKEN }}", "https://c"]}}],
    }


def document(pid: str, default: str | None) -> dict[str, Any]:
    return {
        "metadata": {
            "playbook_id": pid,
            "version": "1.0.0",
            "name": "Rotate the cache",
            "description": "Flush the cache through its admin API.",
            "purpose": "Flush a stale cache",
            "tags": {"category": "maintenance", "risk_level": "low", "requires_approval": False},
            "author": "user_custom",
            "storage_strategy": "uploaded_for_review",
            "status": "pending_review",
            "cloud_provider": ["aws"],
            "resource_types": ["aws::elasticache"],
        },
        "explain_plan": {
            "what_it_does": "Flushes the cache.",
            "why_use_it": ["Stale entries"],
            "what_happens": [
                {"step": 1, "action": "Flush", "details": "curl", "duration_seconds": 5, "can_fail": True}
            ],
            "rollback_strategy": "None needed.",
            "success_criteria": ["Cache empty"],
        },
        "runbook": runbook(default),
    }


async def test_a_secret_default_is_refused_over_http_and_nothing_is_stored(agent, infra: Infra, org: str) -> None:
    client, _ = agent
    pid = f"rotate-{uuid.uuid4().hex[:6]}"
    r = await client.post("/api/playbook/metadata/publish", json=document(pid, SECRET), headers=infra.auth(org))
    assert r.status_code == 422, r.text
    assert "runbook.meta.vars.TOKEN is secret and has a default" in r.json()["detail"]
    assert SECRET not in r.text
    assert (await client.get(f"/api/playbook/metadata/{org}/{pid}/1.0.0", headers=infra.auth(org))).status_code == 404
    # Without the value (or with an empty default) the same playbook is published.
    for default in (None, ""):
        pid = f"rotate-{uuid.uuid4().hex[:6]}"
        r = await client.post("/api/playbook/metadata/publish", json=document(pid, default), headers=infra.auth(org))
        assert r.status_code == 201, r.text


async def test_a_compiled_runbook_with_a_secret_default_goes_to_the_dead_letters(agent, infra: Infra, org: str) -> None:
    client, _ = agent
    pid = f"rotate-{uuid.uuid4().hex[:6]}"
    env = Envelope(
        type="runbook.compiled",
        org_id=org,
        source="compiler",
        data={"playbook_id": pid, "version": "1.0.0", "name": "Rotate", "runbook": runbook(SECRET)},
    )
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")], key=org)
    [dead] = await collect(
        infra.kafka_bootstrap, RUNBOOKS_COMPILED.dlq, where=lambda m: pid in str(m.value), timeout=30
    )
    assert "TOKEN is secret and has a default" in dead.headers["dlq.error"]
    assert SECRET not in dead.headers["dlq.error"]
    assert (await client.get(f"/api/playbook/metadata/{org}/{pid}/1.0.0", headers=infra.auth(org))).status_code == 404
