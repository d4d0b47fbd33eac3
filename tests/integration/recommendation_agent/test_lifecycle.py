"""Lifecycle: every status rule, approve/reject, deprecation on publish, stats and broken, consumers, artifacts."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from agent_review import REVIEWER, publish_doc

from playbooks_contracts import Envelope
from playbooks_contracts.recommendation import STATUSES, TRANSITIONS
from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, eventually, produce, running_service
from recommendation_agent.vector_index import TENANTS, point_id

# How to reach each status from a publish: (status published with, transitions after it).
PATHS = {
    "draft": ("draft", []),
    "ready": ("ready", []),
    "active": ("pending_review", ["approved", "active"]),  # active only through a review
    "pending_review": ("pending_review", []),
    "approved": ("pending_review", ["approved"]),
    "rejected": ("pending_review", ["rejected"]),
    "broken": ("pending_review", ["approved", "active", "broken"]),
    "needs_update": ("pending_review", ["approved", "active", "needs_update"]),
    "deprecated": ("pending_review", ["approved", "active", "deprecated"]),
    "archived": ("draft", ["archived"]),
}


def base(org: str) -> str:
    return f"/api/playbook/metadata/{org}"


async def set_status(client, infra: Infra, org: str, pid: str, version: str, status: str, reason: str | None = None):
    """As the author, except the outcomes of a review, which a reviewer other than the author gives."""
    body = {"status": status} | ({"reason": reason} if reason else {})
    who = REVIEWER if status in ("approved", "rejected") else {}
    return await client.post(f"{base(org)}/{pid}/{version}/status", json=body, headers=infra.auth(org, **who))


async def at_status(client, infra: Infra, org: str, make_doc, status: str, pid: str) -> str:
    published, steps = PATHS[status]
    r = await client.post(
        "/api/playbook/metadata/publish", json=make_doc(pid, status=published), headers=infra.auth(org)
    )
    assert r.status_code == 201, r.text
    for step in steps:
        r = await set_status(client, infra, org, pid, "1.0.0", step, reason="not good enough")
        assert r.status_code == 200, r.text
    return pid


async def test_every_status_rule(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    for frm in STATUSES:
        allowed = TRANSITIONS[frm]
        pid = await at_status(client, infra, org, make_doc, frm, f"pb-{frm.replace('_', '-')}")
        for to in STATUSES:
            if to in allowed:
                continue
            r = await set_status(client, infra, org, pid, "1.0.0", to, reason="x")
            assert r.status_code == 409, (frm, to, r.text)
            problem = r.json()
            assert problem["allowed"] == list(allowed) and problem["current"] == frm
            assert "allowed" in problem["detail"]
        for to in allowed:
            fresh = await at_status(
                client, infra, org, make_doc, frm, f"pb-{frm.replace('_', '-')}-to-{to.replace('_', '-')}"
            )
            r = await set_status(client, infra, org, fresh, "1.0.0", to, reason="because")
            assert r.status_code == 200, (frm, to, r.text)
            assert r.json()["status"] == to


async def test_approve_reject_history(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await at_status(client, infra, org, make_doc, "pending_review", "review-me")
    r = await set_status(client, infra, org, "review-me", "1.0.0", "rejected")
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    # four eyes: the author cannot approve it, whatever roles the author's token holds
    url = f"{base(org)}/review-me/1.0.0/status"
    r = await client.post(url, json={"status": "approved"}, headers=infra.auth(org))
    assert r.status_code == 403 and "four eyes" in r.json()["detail"]
    r = await set_status(client, infra, org, "review-me", "1.0.0", "approved")
    assert r.status_code == 200
    assert r.json()["storage_strategy"] == "uploaded_trusted"
    assert r.json()["document"]["metadata"]["storage_strategy"] == "uploaded_trusted"
    r = await client.get(f"{base(org)}/review-me/1.0.0/history", headers=infra.auth(org))
    assert [(h["from_status"], h["to_status"], h["actor"]) for h in r.json()] == [
        (None, "pending_review", "tester"),
        ("pending_review", "approved", "rita"),
    ]
    r = await set_status(client, infra, f"{org}-x", "review-me", "1.0.0", "approved")
    assert r.status_code == 404
    r = await client.post(
        f"{base(org)}/review-me/1.0.0/status", json={"status": "active"}, headers=infra.auth(f"{org}-x")
    )
    assert r.status_code == 403


async def test_publishing_active_deprecates_previous_and_versions_are_immutable(
    agent, infra: Infra, org: str, make_doc
):
    client, _ = agent
    for version in ("1.0.0", "1.1.0"):
        await publish_doc(client, infra, org, make_doc("rds-ver", version))
    r = await client.get(f"{base(org)}/rds-ver/1.0.0", headers=infra.auth(org))
    assert r.json()["status"] == "deprecated"
    doc = make_doc("rds-ver", "1.1.0", status="pending_review")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 409
    r = await client.post(
        "/api/playbook/metadata/publish", json=make_doc("rds-ver", "2.0.0", status="approved"), headers=infra.auth(org)
    )
    assert r.status_code == 422
    r = await client.post("/api/playbook/metadata/publish", json=make_doc("rds-ver", "2.0.0"), headers=infra.auth(org))
    assert r.status_code == 422 and "after a reviewer other than its author approves it" in r.json()["detail"]
    doc = make_doc("rds-lib", "1.0.0", author="library", status="draft")
    assert (await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))).status_code == 422
    doc = make_doc("rds-nul", "1.0.0", name="bad\u0000name", status="draft")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    doc = make_doc("rds-other", "1.0.0", status="draft") | {"tenant_id": f"{org}-x"}
    assert (await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))).status_code == 403
    data = (
        await client.post(
            "/api/playbook/search", json={"query": "stop rds weekend", "limit": 20}, headers=infra.auth(org)
        )
    ).json()
    versions = {(r["playbook_id"], r["version"]): r for r in data["results"]}
    assert versions[("rds-ver", "1.1.0")]["rank"] < versions[("rds-ver", "1.0.0")]["rank"]
    assert any("Deprecated" in w for w in versions[("rds-ver", "1.0.0")]["warnings"])


async def search_ids(client, infra: Infra, org: str, query: str) -> set[str]:
    r = await client.post("/api/playbook/search", json={"query": query, "limit": 20}, headers=infra.auth(org))
    return {x["playbook_id"] for x in r.json()["results"]}


async def test_stats_over_http_and_three_failures_break(agent, infra: Infra, org: str, make_doc):
    client, runtime = agent
    await at_status(client, infra, org, make_doc, "active", "flaky-rds")
    url = f"/api/playbook/stats/{org}/flaky-rds/1.0.0"
    r = await client.post(url, json={"success": True, "run_id": "r1"}, headers=infra.auth(org))
    assert r.json()["success_count"] == 1
    r = await client.post(url, json={"success": True, "run_id": "r1"}, headers=infra.auth(org))  # replay
    assert r.json()["success_count"] == 1
    for i in range(2):
        r = await client.post(url, json={"success": False, "run_id": f"f{i}"}, headers=infra.auth(org))
    assert r.json()["consecutive_failures"] == 2
    assert "flaky-rds" in await search_ids(client, infra, org, "stop rds for the weekend")
    r = await client.post(url, json={"success": False, "run_id": "f2", "error": "boom"}, headers=infra.auth(org))
    assert r.json() | {"last_executed_at": None} == {
        "success_count": 1,
        "failure_count": 3,
        "consecutive_failures": 3,
        "success_rate": 0.25,
        "last_executed_at": None,
    }
    r = await client.get(f"{base(org)}/flaky-rds/1.0.0", headers=infra.auth(org))
    assert r.json()["status"] == "broken"
    # The index payload follows PostgreSQL: status and the success record.
    pid = point_id("flaky-rds", "1.0.0", org)
    payload = (await runtime.state["engine"].index.payloads(TENANTS, [pid]))[pid]
    assert (payload["status"], payload["success_count"], payload["failure_count"]) == ("broken", 1, 3)
    assert payload["tenant"] == org and payload["resource_types"] == ["rds::instance"]
    assert "flaky-rds" not in await search_ids(client, infra, org, "stop rds for the weekend")
    r = await client.post(f"/api/playbook/stats/{org}/nope/1.0.0", json={"success": True}, headers=infra.auth(org))
    assert r.status_code == 404
    r = await client.post(url, json={"success": True}, headers=infra.auth(f"{org}-x"))
    assert r.status_code == 403


async def test_execution_consumer_counts_and_breaks(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await at_status(client, infra, org, make_doc, "active", "consumed-rds")
    events = [
        Envelope(
            type="playbook.executed",
            org_id=org,
            source="runbook-runtime",
            data={"playbook_id": "consumed-rds", "version": "1.0.0", "run_id": f"run-{i}", "success": False},
        )
        for i in range(3)
    ]
    # The library playbook's stats are the tenant's own; a duplicate delivery counts once.
    lib = Envelope(
        type="playbook.executed",
        org_id=org,
        source="runbook-runtime",
        data={"playbook_id": "aws-rds-stop", "version": "1.0.0", "run_id": "lib-1", "success": True},
    )
    values = [e.model_dump(mode="json") for e in [*events, lib, lib]]
    await produce(infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, values, key=org)

    async def broken():
        r = await client.get(f"{base(org)}/consumed-rds/1.0.0", headers=infra.auth(org))
        return r.json()["status"] == "broken"

    await eventually(broken, timeout=30)

    async def counted():
        r = await client.post(
            "/api/playbook/search",
            json={"query": "Stop production RDS for weekend", "limit": 5},
            headers=infra.auth(org),
        )
        found = {x["playbook_id"]: x for x in r.json()["results"]}
        return (
            found["aws-rds-stop"]["stats"]["success_count"] == 1
            and "1/1 successful runs" in found["aws-rds-stop"]["reason"]
        )

    await eventually(counted, timeout=30)


async def test_compiled_runbook_becomes_pending_review(agent, infra: Infra, org: str):
    client, _ = agent
    runbook = {
        "meta": {"name": "Restart stuck pods", "vars": {"NAMESPACE": "default"}},
        "steps": [
            {"id": "list", "type": "cli", "title": "List crashing pods", "with": {"argv": ["kubectl", "get", "pods"]}},
            {"id": "restart", "type": "manual", "title": "Restart the kubernetes deployment"},
        ],
    }
    pid = f"tsg-{uuid.uuid4().hex[:8]}"
    env = Envelope(
        type="runbook.compiled",
        org_id=org,
        source="compiler",
        data={
            "playbook_id": pid,
            "version": "1.0.0",
            "name": "Restart stuck kubernetes pods",
            "description": "Pods in CrashLoopBackOff: find them and restart the deployment.",
            "runbook": runbook,
            "source_name": "tsg-pods.md",
        },
    )
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")] * 2, key=org)

    async def published():
        r = await client.get(f"{base(org)}/{pid}/1.0.0", headers=infra.auth(org))
        return r.json() if r.status_code == 200 else None

    got = await eventually(published, timeout=30)
    assert got["status"] == "pending_review" and got["storage_strategy"] == "uploaded_for_review"
    assert got["document"]["runbook"] == runbook
    assert [s["action"] for s in got["document"]["explain_plan"]["what_happens"]] == [
        "List crashing pods",
        "Restart the kubernetes deployment",
    ]
    r = await client.post(
        "/api/playbook/search", json={"query": "restart stuck pods in kubernetes", "limit": 10}, headers=infra.auth(org)
    )
    found = {x["playbook_id"]: x for x in r.json()["results"]}
    assert found[pid]["status"] == "pending_review" and found[pid]["source"] == "tenant"
    # Audited as a version published over HTTP is, once although the message came twice.
    r = await client.get(f"/api/playbook/{pid}/audit", headers=infra.auth(org))
    assert r.status_code == 200, r.text
    entries = [(e["action"], e["actor"], e["version"], e["from_ref"]) for e in r.json()]
    assert entries == [("published", "compiler", "1.0.0", f"compiled from tsg-pods.md (message {env.id})")]


async def test_compile_with_publish_and_defaults_arrives_as_pending_review(agent, infra: Infra, org: str):
    """POST /api/compile with publish: true and no version: the runbook arrives in the library (real
    broker, real consumer) under a version recommendation-agent accepts, never in its dead letters."""
    client, _ = agent
    guide = "# Stuck consumers\n\n## Look\n\n```bash\nkubectl get pods -n <ns>\n```\n\nThen restart the cache.\n"
    async with running_service("compiler", infra) as (compiler, _runtime, _app):
        r = await compiler.post("/api/compile", json={"markdown": guide, "publish": True}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    published = r.json()["published"]
    assert published["version"] == "1.0.0"
    pid = published["playbook_id"]

    async def arrived():
        got = await client.get(f"{base(org)}/{pid}/1.0.0", headers=infra.auth(org))
        return got.json() if got.status_code == 200 else None

    got = await eventually(arrived, timeout=30)
    assert got["status"] == "pending_review"
    assert got["document"]["runbook"] == r.json()["runbook"]


async def test_signed_upload_publish_download(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    r = await client.post(
        "/api/playbook/upload/request",
        json={"playbook_id": "uploaded-rds", "version": "1.0.0", "files": ["shell/main.sh"]},
        headers=infra.auth(org),
    )
    assert r.status_code == 200, r.text
    grant = r.json()
    url = urlsplit(grant["urls"]["shell/main.sh"])
    assert grant["expires_at"] > time.time()
    script = b"#!/usr/bin/env bash\nset -euo pipefail\necho uploaded\n"
    bad = url.query.replace("signature=", "signature=0")
    assert (await client.put(f"{url.path}?{bad}", content=script)).status_code == 403
    other = url.path.replace(f"/{org}/", f"/{org}-x/")
    assert (await client.put(f"{other}?{url.query}", content=script)).status_code == 403
    r = await client.put(f"{url.path}?{url.query}", content=script)
    assert r.status_code == 200, r.text
    checksum = r.json()["checksum"]
    doc = make_doc("uploaded-rds", status="pending_review")
    doc["execution_formats"] = {"shell": {"entry_point": "main.sh", "checksum": checksum}}
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    assert r.json()["document"]["execution_formats"]["shell"]["size_bytes"] == len(script)
    doc = make_doc("missing-artifact", status="pending_review")
    doc["execution_formats"] = {"shell": {"entry_point": "main.sh", "checksum": "sha256:" + "1" * 64}}
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 422 and "upload it first" in r.json()["detail"]

    r = await client.get(
        "/api/script/download",
        params={"playbook_id": "uploaded-rds", "version": "1.0.0", "format": "shell"},
        headers=infra.auth(org),
    )
    assert r.status_code == 200
    link = r.json()
    assert link["checksum"] == checksum and link["size_bytes"] == len(script)
    got = await client.get(link["url"].removeprefix("http://127.0.0.1:8004"))
    assert got.status_code == 200 and got.content == script
    # Another tenant cannot fetch it by id, and cannot forge the link to it.
    r = await client.get(
        "/api/script/download",
        params={"playbook_id": "uploaded-rds", "version": "1.0.0"},
        headers=infra.auth(f"{org}-x"),
    )
    assert r.status_code == 404
    forged = urlsplit(link["url"])
    assert (await client.get(forged.path.replace(org, f"{org}-x") + "?" + forged.query)).status_code == 403
    # Library scripts are downloadable by any tenant.
    r = await client.get(
        "/api/script/download",
        params={"playbook_id": "aws-rds-stop", "version": "1.0.0", "format": "python"},
        headers=infra.auth(org),
    )
    got = await client.get(r.json()["url"].removeprefix("http://127.0.0.1:8004"))
    assert got.text.startswith('"""Snapshot an RDS instance')


async def test_expired_links_are_refused(agent, infra: Infra, org: str):
    client, runtime = agent
    from recommendation_agent import signing

    path = signing.download_path("_library", "sha256:" + "a" * 64)
    keys = signing.Keyring(current=runtime.settings.signing_key_id, keys=runtime.settings.signing_keys())
    url, _ = signing.sign(keys, "GET", path, 10, now=time.time() - 60)
    r = await client.get(url)
    assert r.status_code == 403 and "expired" in r.json()["detail"]


async def test_delete_removes_from_search(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await at_status(client, infra, org, make_doc, "active", "to-delete-rds")
    assert "to-delete-rds" in await search_ids(client, infra, org, "stop rds weekend")
    r = await client.delete(f"{base(org)}/to-delete-rds/1.0.0", headers=infra.auth(org))
    assert r.status_code == 204
    assert "to-delete-rds" not in await search_ids(client, infra, org, "stop rds weekend")
    assert (await client.delete(f"{base(org)}/to-delete-rds/1.0.0", headers=infra.auth(org))).status_code == 404
