"""Another org's published runbooks: not listed, not readable, not startable by id.

A published runbook names its id and version only inside its org: the same id from another org's
token is 404 (never 403, which would confirm the id exists), and a reader cannot start one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, eventually, produce, running_service
from playbooks_platform.errors import NotFound
from runbook_runtime.published import get_published

DOC: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "secret-ops", "vars": {"target": {"default": "db-1", "secret": True}}},
    "steps": [{"id": "say", "type": "cli", "with": {"argv": ["echo", "{{ .target }}"]}}],
}


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra) as (client, runtime, _):
        yield client, runtime


async def publish(infra: Infra, runtime: Any, org: str, runbook_id: str, version: str) -> None:
    data = {"playbook_id": runbook_id, "version": version, "name": DOC["meta"]["name"], "runbook": DOC}
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


async def test_another_org_cannot_list_read_or_start_a_published_runbook(rt, infra: Infra) -> None:
    client, runtime = rt
    owner, other = f"org-{uuid.uuid4().hex[:12]}", f"org-{uuid.uuid4().hex[:12]}"
    await publish(infra, runtime, owner, "secret-ops", "1")
    mine = (await client.get("/v1/runbooks", headers=infra.auth(owner))).json()["items"]
    assert [i["runbook_id"] for i in mine] == ["secret-ops"]

    theirs = infra.auth(other)
    assert (await client.get("/v1/runbooks", headers=theirs)).json()["items"] == []
    read = await client.get("/v1/runbooks/secret-ops/1", headers=theirs)
    assert read.status_code == 404 and "secret-ops" not in str(read.json().get("document", ""))
    start = await client.post("/v1/runs", json={"runbook_id": "secret-ops", "runbook_version": "1"}, headers=theirs)
    assert start.status_code == 404, start.text
    real = {"runbook_id": "secret-ops", "runbook_version": "1", "mode": "real"}
    assert (await client.post("/v1/runs", json=real, headers=theirs)).status_code == 404
    assert (await client.get("/v1/runs", headers=theirs)).json()["count"] == 0

    # a search from another org finds nothing and counts nothing; the owner cannot find a secret
    # default by guessing its letters (a search reads names, never values)
    found = (await client.get("/v1/runbooks", params={"q": "secret"}, headers=theirs)).json()
    assert found["items"] == [] and found["count"] == 0
    guess = (await client.get("/v1/runbooks", params={"q": "db-1"}, headers=infra.auth(owner))).json()
    assert guess["count"] == 0

    # a cursor made for one org's listing walks nothing of another's
    page = (await client.get("/v1/runbooks", params={"limit": 1}, headers=infra.auth(owner))).json()
    assert page["next_cursor"] is None


async def test_a_reader_may_list_but_not_start_and_a_token_cannot_be_skipped(rt, infra: Infra) -> None:
    client, runtime = rt
    org = f"org-{uuid.uuid4().hex[:12]}"
    await publish(infra, runtime, org, "secret-ops", "2")
    reader = infra.auth(org, user_id="rita", roles=["viewer"])
    listed = await client.get("/v1/runbooks", headers=reader)
    read = await client.get("/v1/runbooks/secret-ops/2", headers=reader)
    assert listed.status_code == read.status_code == 200
    # a secret var's default is the runbook's to use, not the reader's to see
    assert "db-1" not in listed.text and "db-1" not in read.text
    assert read.json()["document"]["meta"]["vars"]["target"] == {"default": "<secret>", "secret": True}
    async with runtime.database.tenant_transaction(org) as session:
        stored = await get_published(session=session, org_id=org, runbook_id="secret-ops", version="2")
    assert stored["meta"]["vars"]["target"]["default"] == "db-1"  # what a run started by id uses
    start = await client.post("/v1/runs", json={"runbook_id": "secret-ops", "runbook_version": "2"}, headers=reader)
    assert start.status_code == 403, start.text
    operator = infra.auth(org, user_id="omar", roles=["operator"])
    real = {"runbook_id": "secret-ops", "runbook_version": "2", "mode": "real"}
    assert (await client.post("/v1/runs", json=real, headers=operator)).status_code == 403
    assert (await client.get("/v1/runbooks")).status_code == 401
    assert (await client.get("/v1/runbooks/secret-ops/2")).status_code == 401
    # ids are path segments: one cannot climb out of the org's rows with a path or an odd id
    for path in ("/v1/runbooks/..%2F..%2Fsecret-ops/2", "/v1/runbooks/secret-ops/2%27%20OR%201%3D1--"):
        assert (await client.get(path, headers=reader)).status_code == 404
