"""Org clones of library templates: lineage, edits, the three quotas (and their concurrent edge), the audit,
a template's newer version (diff, take, dismiss)."""

from __future__ import annotations

import asyncio
import copy

import pytest
from agent_review import REVIEWER, agent_service

from playbooks_contracts.recommendation import PlaybookDocument
from playbooks_dev.testing import Infra
from recommendation_agent import library
from recommendation_agent.models import clones

QUOTAS = {"clones_per_org": 4, "clones_per_template_per_org": 2, "clones_per_owner": 3}


@pytest.fixture(scope="module")
async def small(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    """The agent with small quotas, so that each one is reached in a few clones."""
    async with agent_service(infra, tmp_path_factory.mktemp("clones"), **QUOTAS) as service:
        yield service


async def clone(client, infra: Infra, org: str, template: str = "aws-rds-stop", user: str = "tester", **body):
    return await client.post(
        f"/api/playbook/{template}/clone", json=body, headers=infra.auth(org, user_id=user, roles=["author"])
    )


async def test_clone_has_lineage_and_the_org_edits_it(small, infra: Infra, org: str):
    client, _ = small
    r = await clone(client, infra, org, playbook_id="team-rds-stop", name="Team RDS stop")
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["lineage"]["template_id"] == "aws-rds-stop" and got["lineage"]["template_version"] == "1.0.0"
    assert got["owner"] == "tester" and got["template_update"] is None
    current = got["current"]
    assert (current["version"], current["status"], current["name"]) == ("1.0.0", "active", "Team RDS stop")
    meta = current["document"]["metadata"]
    assert meta["based_on"] == {"playbook_id": "aws-rds-stop", "version": "1.0.0"}
    template = library.library_by_key()[("aws-rds-stop", "1.0.0")].raw
    assert current["document"]["parameters"] == template["parameters"]
    assert (
        current["document"]["execution_formats"]["shell"]["checksum"]
        == (template["execution_formats"]["shell"]["checksum"])
    )
    # The scripts are the org's own artifacts now: a download grant names the org, not the library.
    r = await client.get(
        "/api/script/download", params={"playbook_id": "team-rds-stop", "version": "1.0.0"}, headers=infra.auth(org)
    )
    assert r.status_code == 200 and f"/{org}/" in r.json()["url"]

    # The org edits its clone through the ordinary route: a new version, reviewed like any other.
    doc = copy.deepcopy(current["document"])
    doc["metadata"].update(version="1.0.1", status="pending_review", storage_strategy="uploaded_for_review")
    doc["metadata"].pop("created_at")
    doc["metadata"].pop("updated_at")
    doc["parameters"][1]["default"] = "eu-west-1"
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    url = f"/api/playbook/metadata/{org}/team-rds-stop/1.0.1/status"
    assert (await client.post(url, json={"status": "approved"}, headers=infra.auth(org, **REVIEWER))).status_code == 200
    assert (await client.post(url, json={"status": "active"}, headers=infra.auth(org))).status_code == 200
    got = (await client.get("/api/playbook/team-rds-stop", headers=infra.auth(org))).json()
    assert got["current"]["version"] == "1.0.1"
    assert got["current"]["document"]["parameters"][1]["default"] == "eu-west-1"
    assert [(v["version"], v["status"]) for v in got["versions"]] == [("1.0.0", "deprecated"), ("1.0.1", "active")]

    r = await client.get("/api/playbook/team-rds-stop/audit", headers=infra.auth(org, roles=["viewer"]))
    assert r.status_code == 200
    entries = r.json()
    assert entries[0]["action"] == "cloned" and entries[0]["actor"] == "tester"
    assert entries[0]["from_ref"] == "template aws-rds-stop@1.0.0" and entries[0]["version"] == "1.0.0"
    assert [e["action"] for e in entries[1:]] == ["published", "status_changed", "status_changed"]
    assert entries[2]["actor"] == REVIEWER["user_id"] and entries[2]["detail"]["to"] == "approved"


async def test_each_quota_is_refused_with_its_name(small, infra: Infra, org: str):
    client, runtime = small
    # per template per org (2)
    for _ in range(2):
        assert (await clone(client, infra, org, "aws-rds-stop", user="ann")).status_code == 201
    r = await clone(client, infra, org, "aws-rds-stop", user="bob")
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("quota clones_per_template_per_org (2) reached")
    assert r.json()["quota"] == "clones_per_template_per_org"
    # per owner (3): ann has 2
    assert (await clone(client, infra, org, "aws-rds-start", user="ann")).status_code == 201
    r = await clone(client, infra, org, "aws-ec2-stop-idle", user="ann")
    assert r.status_code == 409 and r.json()["detail"].startswith("quota clones_per_owner (3) reached"), r.text
    # per org (4): 3 so far
    assert (await clone(client, infra, org, "aws-ec2-stop-idle", user="bob")).status_code == 201
    r = await clone(client, infra, org, "k8s-drain-node", user="carl")
    assert r.status_code == 409 and r.json()["detail"].startswith("quota clones_per_org (4) reached"), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # another org has quotas of its own
    assert (await clone(client, infra, f"{org}-b", "k8s-drain-node", user="carl")).status_code == 201
    async with runtime.database.tenant_transaction(org) as session:
        rows = (await session.execute(clones.select().where(clones.c.org_id == org))).all()
    assert len(rows) == 4
    # deleting a clone (its last version) frees its place; its audit stays
    gone = next(r.playbook_id for r in rows if r.owner == "bob")
    r = await client.delete(f"/api/playbook/metadata/{org}/{gone}/1.0.0", headers=infra.auth(org, roles=["author"]))
    assert r.status_code == 204, r.text
    assert (await clone(client, infra, org, "k8s-drain-node", user="carl")).status_code == 201
    audit = (await client.get(f"/api/playbook/{gone}/audit", headers=infra.auth(org))).json()
    assert [a["action"] for a in audit] == ["cloned", "deleted"]


async def test_concurrent_clones_at_the_edge_take_the_last_place_once(small, infra: Infra, org: str):
    client, runtime = small
    for template in ("aws-rds-stop", "aws-rds-start", "aws-ec2-stop-idle"):
        assert (await clone(client, infra, org, template, user=f"u-{template}")).status_code == 201
    # one place left in the org: ten people ask at once
    answers = await asyncio.gather(*(clone(client, infra, org, "k8s-drain-node", user=f"p{i}") for i in range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 9, [r.text for r in answers]
    assert all("clones_per_org" in r.json()["detail"] for r in answers if r.status_code == 409)
    async with runtime.database.tenant_transaction(org) as session:
        rows = (await session.execute(clones.select().where(clones.c.org_id == org))).all()
    assert len(rows) == QUOTAS["clones_per_org"]


@pytest.fixture
def newer_template():
    """A newer library version of aws-rds-stop, as a new package would load it at start-up."""
    loaded = library.load_library
    base = library.library_by_key()[("aws-rds-stop", "1.0.0")].raw
    raw = copy.deepcopy(base)
    raw["metadata"].update(version="1.1.0", description="Snapshot an RDS instance, wait for it, then stop it.")
    raw["parameters"][3]["default"] = True  # dry_run on by default
    raw["parameters"][1]["description"] = "AWS region of the instance"
    raw["explain_plan"]["what_happens"][0]["duration_seconds"] = 600
    raw["execution_formats"]["shell"]["content"] += "\n# waits for the snapshot\n"
    for fmt in raw["execution_formats"].values():
        if fmt:
            fmt.pop("checksum")
            fmt.pop("size_bytes")
    document = PlaybookDocument.model_validate(raw)
    newer = library.LibraryPlaybook(document=document, raw=document.model_dump(mode="json"))
    library.load_library = lambda: (*loaded(), newer)  # type: ignore[assignment]
    library.library_by_key.cache_clear()
    try:
        yield newer
    finally:
        library.load_library = loaded  # type: ignore[assignment]
        library.library_by_key.cache_clear()


async def test_a_new_clone_follows_the_newest_template_version(small, infra: Infra, org: str, newer_template):
    client, _ = small
    r = await clone(client, infra, org, playbook_id="rds-team")
    assert r.status_code == 201, r.text
    assert r.json()["lineage"]["template_version"] == "1.1.0" and r.json()["template_update"] is None
    params = {p["name"]: p for p in r.json()["current"]["document"]["parameters"]}
    assert params["dry_run"]["default"] is True


@pytest.fixture
async def old_clone(small, infra: Infra, org: str):
    """A clone of aws-rds-stop 1.0.0 whose owner edited the region default and the description."""
    client, _ = small
    r = await clone(client, infra, org, playbook_id="rds-team", name="RDS for the team")
    assert r.status_code == 201, r.text
    doc = copy.deepcopy(r.json()["current"]["document"])
    doc["metadata"].update(
        version="1.0.1",
        status="pending_review",
        storage_strategy="uploaded_for_review",
        description="Our own words for it.",
    )
    doc["metadata"].pop("created_at")
    doc["metadata"].pop("updated_at")
    doc["parameters"][1]["default"] = "eu-west-1"
    assert (await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))).status_code == 201
    url = f"/api/playbook/metadata/{org}/rds-team/1.0.1/status"
    assert (await client.post(url, json={"status": "approved"}, headers=infra.auth(org, **REVIEWER))).status_code == 200
    assert (await client.post(url, json={"status": "active"}, headers=infra.auth(org))).status_code == 200
    return "rds-team"


async def test_take_a_template_update(small, infra: Infra, org: str, old_clone, newer_template):
    client, _ = small
    listed = {c["playbook_id"]: c for c in (await client.get("/api/clones", headers=infra.auth(org))).json()}
    assert listed[old_clone]["update_to"] == "1.1.0" and listed[old_clone]["template_version"] == "1.0.0"
    got = (await client.get(f"/api/playbook/{old_clone}", headers=infra.auth(org))).json()
    update = got["template_update"]
    assert (update["from_version"], update["to_version"]) == ("1.0.0", "1.1.0")
    diff = {d["path"]: d for d in update["diff"]}
    assert diff['parameters[name="dry_run"].default'] == {
        "path": 'parameters[name="dry_run"].default',
        "op": "changed",
        "from": False,
        "to": True,
    }
    assert diff["metadata.description"]["op"] == "changed"
    assert "explain_plan.what_happens[step=1].duration_seconds" in diff
    assert "execution_formats.shell.checksum" in diff
    assert not any(p.startswith("metadata.version") for p in diff)

    # only the owner (or an admin) decides
    r = await client.post(
        f"/api/playbook/{old_clone}/template-update",
        json={"action": "take"},
        headers=infra.auth(org, user_id="someone", roles=["author"]),
    )
    assert r.status_code == 403 and "owner" in r.json()["detail"]
    r = await client.post(
        f"/api/playbook/{old_clone}/template-update",
        json={"action": "take"},
        headers=infra.auth(org, user_id="tester", roles=["author"]),
    )
    assert r.status_code == 200, r.text
    taken = r.json()
    assert taken["version"] == "1.1.0" and taken["template_version"] == "1.1.0"
    assert "metadata.description" in taken["kept"]  # the org's own words stay
    assert 'parameters[name="dry_run"].default' in taken["taken"]

    got = (await client.get(f"/api/playbook/{old_clone}", headers=infra.auth(org))).json()
    assert got["template_update"] is None and got["lineage"]["template_version"] == "1.1.0"
    current = got["current"]
    assert (current["version"], current["status"]) == ("1.1.0", "active")
    doc = current["document"]
    params = {p["name"]: p for p in doc["parameters"]}
    assert params["dry_run"]["default"] is True  # the template's change
    assert params["region"]["default"] == "eu-west-1"  # the org's edit
    assert params["region"]["description"] == "AWS region of the instance"  # the template's, on an untouched field
    assert doc["metadata"]["description"] == "Our own words for it."
    assert doc["metadata"]["name"] == "RDS for the team" and doc["metadata"]["playbook_id"] == old_clone
    assert doc["metadata"]["based_on"] == {"playbook_id": "aws-rds-stop", "version": "1.1.0"}
    assert doc["execution_formats"]["shell"]["checksum"] == newer_template.raw["execution_formats"]["shell"]["checksum"]
    assert doc["explain_plan"]["what_happens"][0]["duration_seconds"] == 600
    audit = (await client.get(f"/api/playbook/{old_clone}/audit", headers=infra.auth(org))).json()
    assert audit[-1]["action"] == "template_update_taken" and audit[-1]["version"] == "1.1.0"
    assert audit[-1]["from_ref"] == "template aws-rds-stop@1.1.0 onto version 1.0.1"
    # nothing more to take
    r = await client.post(
        f"/api/playbook/{old_clone}/template-update", json={"action": "take"}, headers=infra.auth(org)
    )
    assert r.status_code == 409


async def test_dismiss_a_template_update(small, infra: Infra, org: str, old_clone, newer_template):
    client, _ = small
    r = await client.post(
        f"/api/playbook/{old_clone}/template-update", json={"action": "dismiss"}, headers=infra.auth(org)
    )
    assert r.status_code == 200 and r.json()["version"] is None, r.text
    got = (await client.get(f"/api/playbook/{old_clone}", headers=infra.auth(org))).json()
    assert got["template_update"] is None and got["lineage"]["template_version"] == "1.0.0"
    assert got["current"]["version"] == "1.0.1"
    listed = {c["playbook_id"]: c for c in (await client.get("/api/clones", headers=infra.auth(org))).json()}
    assert listed[old_clone]["update_to"] is None  # dismissed: no longer waiting
    audit = (await client.get(f"/api/playbook/{old_clone}/audit", headers=infra.auth(org))).json()
    assert audit[-1]["action"] == "template_update_dismissed"
