"""Clones and proposals against the people they govern: another org, a viewer, a colleague who is not the owner,
a crafted proposal, an edit of a protected template, a flood of clone requests at the quota."""

from __future__ import annotations

import asyncio
import copy
import uuid

import pytest
from agent_review import agent_service
from sqlalchemy import func, insert, select

from playbooks_dev.testing import Infra
from recommendation_agent.models import clones, playbook_audit, playbook_versions, proposals

ORG_QUOTA = 7


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    async with agent_service(
        infra,
        tmp_path_factory.mktemp("clone-governance"),
        clones_per_org=ORG_QUOTA,
        clones_per_template_per_org=1000,
        clones_per_owner=1000,
    ) as service:
        yield service


OWNER = {"user_id": "olga", "roles": ["author"]}


async def owned_clone(client, infra: Infra, org: str, pid: str = "team-rds") -> str:
    r = await client.post(
        "/api/playbook/aws-rds-stop/clone", json={"playbook_id": pid}, headers=infra.auth(org, **OWNER)
    )
    assert r.status_code == 201, r.text
    return pid


async def crafted_proposal(runtime, org: str, pid: str, change: dict, kind: str = "new_default") -> str:
    """A proposal row written straight into the table, as if the generator had been fooled."""
    pid_ = str(uuid.uuid4())
    async with runtime.database.tenant_transaction(org) as session:
        await session.execute(
            insert(proposals).values(
                id=pid_,
                org_id=org,
                playbook_id=pid,
                base_version="1.0.0",
                kind=kind,
                fingerprint=f"crafted:{pid_}",
                summary="crafted",
                change=change,
                evidence={},
            )
        )
    return pid_


async def test_another_org_sees_and_decides_nothing(agent, infra: Infra, org: str):
    client, runtime = agent
    pid = await owned_clone(client, infra, org)
    proposal = await crafted_proposal(
        runtime, org, pid, {"set": [{"path": ["parameters", "region", "default"], "value": "x"}]}
    )
    other = infra.auth(f"{org}-evil", user_id="olga", roles=["admin"])  # same user name, admin, other org
    for method, path, body in [
        ("GET", f"/api/playbook/{pid}", None),
        ("GET", f"/api/playbook/{pid}/audit", None),
        ("GET", f"/api/playbook/{pid}/proposals", None),
        ("POST", f"/api/playbook/{pid}/proposals/refresh", None),
        ("POST", f"/api/playbook/{pid}/rollback", {"version": "1.0.0"}),
        ("POST", f"/api/playbook/{pid}/template-update", {"action": "take"}),
        ("POST", f"/api/proposals/{proposal}/approve", None),
        ("POST", f"/api/proposals/{proposal}/reject", {"reason": "mine now"}),
    ]:
        r = await client.request(method, path, json=body, headers=other)
        assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text[:200]}"
        assert org not in r.json()["detail"].replace(f"{org}-evil", "")
    assert (await client.get("/api/clones", headers=other)).json() == []  # not listed either
    assert [c["playbook_id"] for c in (await client.get("/api/clones", headers=infra.auth(org))).json()] == [pid]
    async with runtime.database.tenant_transaction(org) as session:
        status = (await session.execute(select(proposals.c.status).where(proposals.c.id == proposal))).scalar()
        versions = (await session.execute(select(func.count()).where(playbook_versions.c.playbook_id == pid))).scalar()
    assert status == "open" and versions == 1
    # row-level security: even a query without the org filter, in the other org's transaction, sees nothing
    async with runtime.database.tenant_transaction(f"{org}-evil") as session:
        assert (await session.execute(select(func.count()).select_from(clones))).scalar() == 0
        assert (await session.execute(select(func.count()).select_from(proposals))).scalar() == 0
        assert (await session.execute(select(func.count()).select_from(playbook_audit))).scalar() == 0


async def test_a_proposal_cannot_change_identity_even_crafted(agent, infra: Infra, org: str):
    client, runtime = agent
    pid = await owned_clone(client, infra, org)
    owner = infra.auth(org, **OWNER)
    for change, kind in [
        ({"set": [{"path": ["metadata", "name"], "value": "pwned"}]}, "new_default"),
        ({"set": [{"path": ["metadata", "playbook_id"], "value": "other"}]}, "new_default"),
        ({"set": [{"path": ["metadata", "based_on"], "value": {"playbook_id": "k8s-drain-node"}}]}, "new_default"),
        ({"set": [{"path": ["metadata", "cloud_provider"], "value": ["gcp"]}]}, "retry"),
        ({"set": [{"path": ["metadata", "resource_types"], "value": ["x"]}]}, "retry"),
        ({"set": [{"path": ["execution_formats", "shell", "checksum"], "value": "sha256:" + "0" * 64}]}, "retry"),
        ({"status": "archived"}, "needs_update"),
    ]:
        crafted = await crafted_proposal(runtime, org, pid, change, kind)
        r = await client.post(f"/api/proposals/{crafted}/approve", headers=owner)
        assert r.status_code == 403, f"{change}: {r.status_code} {r.text[:200]}"
    got = (await client.get(f"/api/playbook/{pid}", headers=owner)).json()
    assert [v["version"] for v in got["versions"]] == ["1.0.0"]
    assert got["current"]["status"] == "active" and got["current"]["document"]["metadata"]["playbook_id"] == pid


async def test_only_the_owner_or_an_admin_decides(agent, infra: Infra, org: str):
    client, runtime = agent
    pid = await owned_clone(client, infra, org)
    change = {"set": [{"path": ["parameters", "region", "default"], "value": "eu-west-1"}]}
    first = await crafted_proposal(runtime, org, pid, change)
    # a viewer has no write permission at all
    r = await client.post(f"/api/proposals/{first}/approve", headers=infra.auth(org, user_id="vic", roles=["viewer"]))
    assert r.status_code == 403 and r.json()["permission"] == "write"
    # an author who is not the owner may not approve, reject or roll back someone else's playbook
    mallory = infra.auth(org, user_id="mallory", roles=["author", "reviewer", "approver"])
    for path, body in [
        (f"/api/proposals/{first}/approve", None),
        (f"/api/proposals/{first}/reject", {"reason": "no"}),
        (f"/api/playbook/{pid}/rollback", {"version": "1.0.0"}),
    ]:
        r = await client.post(path, json=body, headers=mallory)
        assert r.status_code == 403 and "owner" in r.json()["detail"], r.text
    # an org admin may stand in for the owner
    r = await client.post(f"/api/proposals/{first}/approve", headers=infra.auth(org, user_id="ada", roles=["admin"]))
    assert r.status_code == 200 and r.json()["decided_by"] == "ada", r.text


async def test_a_library_template_cannot_be_edited(agent, infra: Infra, org: str):
    client, _ = agent
    owner = infra.auth(org, **OWNER)
    pid = await owned_clone(client, infra, org)
    template = (await client.get(f"/api/playbook/{pid}", headers=owner)).json()["current"]["document"]
    doc = copy.deepcopy(template)
    doc["metadata"].update(
        playbook_id="aws-rds-stop", version="9.0.0", status="draft", storage_strategy="uploaded_for_review"
    )
    doc["metadata"].pop("created_at")
    doc["metadata"].pop("updated_at")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 403 and "protected library template" in r.json()["detail"], r.text
    for path, body in [
        ("/api/playbook/aws-rds-stop/rollback", {"version": "1.0.0"}),
        ("/api/playbook/aws-rds-stop/proposals/refresh", None),
        ("/api/playbook/aws-rds-stop/template-update", {"action": "take"}),
    ]:
        r = await client.post(path, json=body, headers=infra.auth(org))
        assert r.status_code == 403 and "protected library template" in r.json()["detail"], (path, r.text)
    # a clone's own new version cannot rewrite its lineage
    doc = copy.deepcopy(template)
    doc["metadata"].update(version="1.0.1", status="draft", storage_strategy="uploaded_for_review")
    doc["metadata"]["based_on"] = {"playbook_id": "k8s-drain-node", "version": "1.0.0"}
    doc["metadata"].pop("created_at")
    doc["metadata"].pop("updated_at")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=owner)
    assert r.status_code == 403 and "lineage" in r.json()["detail"], r.text
    # the audit is append-only, even for the service's own role
    async with agent[1].database.tenant_transaction(org) as session:
        with pytest.raises(Exception, match="append-only"):
            await session.execute(playbook_audit.delete().where(playbook_audit.c.org_id == org))


async def test_a_thousand_clone_requests_never_pass_the_quota(agent, infra: Infra, org: str):
    client, runtime = agent
    templates = ["aws-rds-stop", "aws-rds-start", "aws-ec2-stop-idle", "k8s-drain-node"]
    gate = asyncio.Semaphore(64)

    async def one(i: int):
        async with gate:
            return await client.post(
                f"/api/playbook/{templates[i % 4]}/clone",
                json={},
                headers=infra.auth(org, user_id=f"user-{i % 13}", roles=["author"]),
            )

    answers = await asyncio.gather(*(one(i) for i in range(1000)))
    codes: dict[int, int] = {}
    for r in answers:
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
    assert codes == {201: ORG_QUOTA, 409: 1000 - ORG_QUOTA}, codes
    assert all(r.json()["quota"] == "clones_per_org" for r in answers if r.status_code == 409)
    async with runtime.database.tenant_transaction(org) as session:
        held = (await session.execute(select(func.count()).where(clones.c.org_id == org))).scalar()
        spawned = (
            await session.execute(
                select(func.count()).where(playbook_audit.c.org_id == org, playbook_audit.c.action == "cloned")
            )
        ).scalar()
    assert held == spawned == ORG_QUOTA
