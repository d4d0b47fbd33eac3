"""Reasons are facts: every clause of every reason holds for the playbook it describes; a request that matches
nothing says so, with weak candidates, instead of confident-looking results."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

from agent_review import publish_doc

from playbooks_dev.testing import Infra
from recommendation_agent.playbook_actions import playbook_actions
from recommendation_agent.reason_check import check_reason
from recommendation_agent.reasons import WEAK_CONFIDENCE_CAP

# Requests of every kind of clause: action, resource, cloud, environment, schedule, category; and none.
EXTRA_QUERIES = [
    "stop idle dev EC2 instances over the weekend",
    "start the production database on monday morning",
    "restart nginx on the web servers",
    "scale up the azure sql database in staging tonight",
    "delete old snapshots of the staging rds",
    "our gke nodes are NotReady, troubleshoot them",
    "rotate the tls certificate on the prod cluster",
    "back up all dev disks in google cloud every night",
    "schedule the eks node group to scale down at night",
    "lock down the public bucket in production now",
]


def queries() -> list[str]:
    pkg = resources.files("recommendation_agent")
    internal = json.loads((pkg / "relevance.json").read_text())["queries"]
    external = json.loads((pkg / "relevance_external.json").read_text())["queries"]
    return [q["query"] for q in internal] + [q["query"] for q in external] + EXTRA_QUERIES


async def search(client, infra: Infra, org: str, query: str, **body) -> dict:
    r = await client.post("/api/playbook/search", json={"query": query, **body}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return r.json()


def runbook_doc(playbook_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A tenant playbook whose executable form is a runbook and which states no action (as the compiler's)."""
    return {
        "metadata": {
            "playbook_id": playbook_id,
            "version": "1.0.0",
            "name": "GKE nodes NotReady triage",
            "description": "Look at why GKE nodes went NotReady; the guide mentions you may stop and start the pool.",
            "purpose": "Triage NotReady nodes",
            "keywords": ["gke", "nodes", "notready", "stop", "start"],
            "cloud_provider": ["gcp", "kubernetes"],
            "resource_types": ["gcp::gke-nodepool", "k8s::node"],
            "author": "user_custom",
            "storage_strategy": "uploaded_for_review",
            "status": "active",
            "tags": {"category": "incident-response", "risk_level": "low", "requires_approval": False},
        },
        "explain_plan": {
            "what_it_does": "Reads node state.",
            "why_use_it": ["Triage"],
            "what_happens": [{"step": 1, "action": "Look", "details": "kubectl get", "duration_seconds": 5,
                              "can_fail": False}],
            "rollback_strategy": "Nothing changes.",
            "success_criteria": ["Cause found"],
        },
        "runbook": {
            "apiVersion": "runbook/v0",
            "meta": {"name": "GKE nodes NotReady triage", "governance": {"allowed_commands": ["kubectl"]}},
            "steps": steps,
        },
    }  # fmt: skip


async def publish_tenant_set(client, infra: Infra, org: str, make_doc) -> None:
    """Tenant playbooks of every origin: derived from the library, stating no action, compiled runbooks."""
    await publish_doc(client, infra, org, make_doc("team-weekend-rds"))
    unstated = make_doc("team-ec2-nightly", base="aws-ec2-stop-idle", name="Nightly EC2 shutdown for dev")
    del unstated["metadata"]["primary_action"]
    await publish_doc(client, infra, org, unstated)
    silent = make_doc("team-misc-ec2", base="aws-ec2-start-by-tag", name="EC2 housekeeping")
    del silent["metadata"]["primary_action"]
    await publish_doc(client, infra, org, silent)
    reads = [{"id": "look", "type": "cli", "title": "look", "with": {"argv": ["kubectl", "get", "nodes"]}}]
    await publish_doc(client, infra, org, runbook_doc("team-gke-triage", reads))
    drain = {"id": "drain", "type": "manual", "title": "Drain", "instructions": "$ kubectl drain node-1 --force"}
    drains = [*reads, drain]
    await publish_doc(client, infra, org, runbook_doc("team-gke-drain", drains))


async def test_every_reason_clause_holds_for_its_playbook(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await publish_tenant_set(client, infra, org, make_doc)
    documents = {}  # the runbooks of the tenant's compiled playbooks: the truth of "its commands ..." clauses
    for pid in ("team-gke-triage", "team-gke-drain"):
        r = await client.get(f"/api/playbook/metadata/{org}/{pid}/1.0.0", headers=infra.auth(org))
        assert r.status_code == 200, r.text
        documents[pid] = r.json()["document"]
    checked, untrue, kinds = 0, [], set()
    for query in queries():
        data = await search(client, infra, org, query, limit=10)
        for result in data["results"]:
            doc = documents.get(result["playbook_id"], {"metadata": result["metadata"]})
            actions, source = playbook_actions({**doc, "metadata": result["metadata"]})
            for clause in check_reason(result, actions, source):
                checked += 1
                kinds.add(clause.text.split(" ")[0])
                if not clause.true:
                    untrue.append(f"{query!r} -> {result['playbook_id']}: {clause.text!r} ({clause.why})")
    assert not untrue, "\n".join(untrue[:20])
    assert checked > 2000
    # the walk met every kind of clause, including the ones a stated-nothing or compiled playbook gets
    assert {"does", "its", "on", "for", "category", "Library", "Your", "no", "text"} <= kinds


async def test_the_issue_case_start_playbook_never_claims_stop(agent, infra: Infra, org: str):
    client, _ = agent
    data = await search(client, infra, org, "stop idle dev EC2 instances over the weekend", limit=10)
    top = data["results"][0]
    assert top["playbook_id"] == "aws-ec2-stop-idle" and top["match"] == "strong" and data["matched"]
    start = next(r for r in data["results"] if r["playbook_id"] == "aws-ec2-start-by-tag")
    assert "does 'stop'" not in start["reason"]
    assert "differs from it: does 'start', not 'stop'" in start["reason"]
    assert start["match"] == "weak" and start["confidence"] <= WEAK_CONFIDENCE_CAP
    assert any(w.startswith("Weak match: it does 'start'") for w in start["warnings"])
    strong = [r["rank"] for r in data["results"] if r["match"] == "strong"]
    assert start["rank"] > max(strong)  # every strong answer ranks before it


async def test_a_stated_nothing_playbook_speaks_only_through_its_name(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await publish_tenant_set(client, infra, org, make_doc)
    data = await search(client, infra, org, "shut down the dev ec2 instances tonight", limit=10)
    by_id = {r["playbook_id"]: r for r in data["results"]}
    # "Nightly EC2 shutdown for dev" states no action: its name says 'stop', and the reason says exactly that
    assert "its name says 'stop'" in by_id["team-ec2-nightly"]["reason"]
    # "EC2 housekeeping" states nothing and its name says nothing: no action clause at all, whatever its text says
    housekeeping = by_id.get("team-misc-ec2")
    if housekeeping is not None:
        assert "'stop'" not in housekeeping["reason"] and "'start'" not in housekeeping["reason"]


async def test_compiled_runbooks_act_as_their_commands_say(agent, infra: Infra, org: str, make_doc):
    client, _ = agent
    await publish_tenant_set(client, infra, org, make_doc)
    data = await search(client, infra, org, "gke nodes NotReady, troubleshoot", limit=10)
    by_id = {r["playbook_id"]: r for r in data["results"]}
    # its description says "stop and start", its commands only read: it diagnoses, and says nothing of stopping
    assert "its commands only read (diagnose)" in by_id["team-gke-triage"]["reason"]
    assert "'stop'" not in by_id["team-gke-triage"]["reason"]
    data = await search(client, infra, org, "drain the notready gke node", limit=10)
    drain = next(r for r in data["results"] if r["playbook_id"] == "team-gke-drain")
    assert "its commands drain" in drain["reason"]


async def test_gibberish_and_missing_clouds_say_nothing_matches(agent, infra: Infra, org: str):
    client, _ = agent
    for query, says in [
        ("qwertz blorp frobnicate the zorblax", "names no action, resource or cloud"),
        ("stop idle Oracle Cloud compute instances over the weekend", "no playbooks for Oracle Cloud"),
        ("power off DigitalOcean droplets at night", "no playbooks for DigitalOcean"),
    ]:
        data = await search(client, infra, org, query, limit=5)
        assert data["matched"] is False, (query, [(r["playbook_id"], r["match"]) for r in data["results"]])
        assert says in data["notice"]
        assert data["results"], "the closest candidates are still shown"
        for r in data["results"]:
            assert r["match"] == "weak" and r["confidence"] <= WEAK_CONFIDENCE_CAP
            assert any(w.startswith("Weak match:") for w in r["warnings"])
    data = await search(client, infra, org, "stop idle dev EC2 instances over the weekend", limit=5)
    assert data["matched"] is True and data["notice"] is None


def test_tenant_doc_helper_keeps_library_actions(make_doc):
    doc = make_doc("x-rds", base="aws-rds-stop")
    assert doc["metadata"]["primary_action"] == "stop" and copy.deepcopy(doc) == doc
