"""Search: intent, library results, tenant precedence, statuses, tenant isolation, relevance."""

from __future__ import annotations

import json
from importlib import resources

from agent_review import publish_doc

from playbooks_dev.testing import Infra, running_service
from recommendation_agent.library import LIBRARY_TENANT
from recommendation_agent.vector_index import TENANTS, IndexFilter


async def search(client, infra: Infra, org: str, query: str, **body) -> dict:
    r = await client.post("/api/playbook/search", json={"query": query, **body}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return r.json()


async def publish(client, infra: Infra, org: str, doc: dict) -> dict:
    return await publish_doc(client, infra, org, doc)


async def test_weekend_rds_finds_the_library_playbook_with_reasons(agent, infra: Infra, org: str):
    client, _ = agent
    data = await search(client, infra, org, "Stop production RDS for weekend", limit=3)
    assert data["intent"]["action"] == "stop" and data["intent"]["resource_types"] == ["rds::instance"]
    top = data["results"][0]
    assert top["playbook_id"] == "aws-rds-stop" and top["rank"] == 1 and top["source"] == "library"
    assert 0.5 < top["confidence"] <= 1
    assert "does 'stop'" in top["reason"] and "status active" in top["reason"]
    assert top["parameters"][0]["name"] == "instance_id"
    assert top["explain_plan"]["what_happens"][1]["action"] == "Create snapshot"
    assert top["scripts"]["shell"]["content"].startswith("#!/usr/bin/env bash")
    assert top["scripts"]["python"]["checksum"].startswith("sha256:")
    assert "Requires approval before it runs." in top["warnings"]


async def test_tenant_playbook_first_and_isolated(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    other = f"{org}-other"
    await publish(client, infra, org, make_doc())
    mine = await search(client, infra, org, "Stop production RDS for weekend", limit=5)
    assert (mine["results"][0]["playbook_id"], mine["results"][0]["source"]) == ("team-weekend-rds", "tenant")
    assert mine["results"][0]["reason"].startswith("Your team's playbook")
    assert mine["results"][0]["scripts"]["shell"]["content"].startswith("#!/usr/bin/env bash")
    theirs = await search(client, infra, other, "Stop production RDS for weekend", limit=20)
    assert all(r["source"] == "library" for r in theirs["results"])
    assert "team-weekend-rds" not in {r["playbook_id"] for r in theirs["results"]}
    # By id: the other tenant cannot name this tenant in the path, and does not have the version itself.
    r = await client.get(f"/api/playbook/metadata/{org}/team-weekend-rds/1.0.0", headers=infra.auth(other))
    assert r.status_code == 403
    r = await client.get(f"/api/playbook/metadata/{other}/team-weekend-rds/1.0.0", headers=infra.auth(other))
    assert r.status_code == 404
    r = await client.get(f"/api/playbook/metadata/{org}/team-weekend-rds/1.0.0", headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["status"] == "active"


async def test_only_searchable_statuses_and_warnings(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await publish(client, infra, org, make_doc("draft-rds", status="draft"))
    await publish(client, infra, org, make_doc("review-rds", status="pending_review"))
    data = await search(client, infra, org, "stop rds database for the weekend", limit=20)
    ids = {r["playbook_id"]: r for r in data["results"]}
    assert "draft-rds" not in ids
    assert ids["review-rds"]["status"] == "pending_review"
    assert any("Pending review" in w for w in ids["review-rds"]["warnings"])
    assert ids["aws-rds-stop"]["rank"] < ids["review-rds"]["rank"]  # active library over untested pending review


async def test_filters_narrow_the_search(agent, infra: Infra, org: str):
    client, _ = agent
    data = await search(client, infra, org, "stop the virtual machines", limit=10, filters={"cloud_provider": ["gcp"]})
    assert data["results"] and all("gcp" in r["metadata"]["cloud_provider"] for r in data["results"])
    assert data["results"][0]["playbook_id"] == "gcp-compute-stop"
    data = await search(client, infra, org, "backup", limit=10, filters={"category": "security"})
    assert all(r["metadata"]["tags"]["category"] == "security" for r in data["results"])
    r = await client.post("/api/playbook/search", json={"query": "x", "limit": 500, "nope": 1}, headers=infra.auth(org))
    assert r.status_code == 422


async def test_relevance_set_recall_at_3(agent, infra: Infra, org: str):
    """The shipped relevance set (>= 60 queries): the full pipeline finds an expected playbook in the top 3."""
    client, _ = agent
    queries = json.loads((resources.files("recommendation_agent") / "relevance.json").read_text())["queries"]
    assert len(queries) >= 60
    hits = 0
    for q in queries:
        data = await search(client, infra, org, q["query"], limit=3)
        hits += any(r["playbook_id"] in q["expected"] for r in data["results"])
    assert hits / len(queries) >= 0.9


async def test_a_lost_index_is_rebuilt_from_postgresql(
    agent, infra: Infra, org: str, make_doc, embedding_cache, tmp_path
):
    client, _ = agent
    await publish(client, infra, org, make_doc("rebuilt-rds"))
    overrides = {"index_path": tmp_path / "fresh-edge", "embedding_cache_path": embedding_cache, "role": "api"}
    async with running_service("recommendation-agent", infra, **overrides) as (fresh, runtime, _app):
        engine = runtime.state["engine"]
        library = IndexFilter(tenant=LIBRARY_TENANT)  # the library's points, in the tenant collection
        assert await engine.index.count(TENANTS, library) == len(engine.library)
        data = await search(fresh, infra, org, "Stop production RDS for weekend", limit=3)
        assert data["results"][0]["playbook_id"] == "rebuilt-rds"
