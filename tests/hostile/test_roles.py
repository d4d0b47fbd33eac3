"""Who may do what, tried the way issue 19 reproduced it: roles, four eyes, the actor and storage strategies.

Each test is an attack that worked on main before the permission model: a viewer publishing a
high-risk script playbook and approving it herself, rejecting another author's version, recording
failed executions that break someone else's playbook; an author approving her own publication; a
person's token recording a step as ``system/TriageAgent``; a ``local_only`` playbook stored and
found by the team. Real PostgreSQL, broker and services, no mocks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from playbooks_dev.testing import Infra, running_service

PUBLISH = "/api/playbook/metadata/publish"


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    index: Path = tmp_path_factory.mktemp("edge")
    cache: Path = tmp_path_factory.mktemp("embeddings")
    async with running_service("recommendation-agent", infra, index_path=index, embedding_cache_path=cache) as (
        client,
        _runtime,
        _app,
    ):
        yield client


def script_playbook(playbook_id: str, *, status: str = "pending_review", **meta: Any) -> dict[str, Any]:
    """A high-risk tenant playbook with a shell script, derived from a library one."""
    from recommendation_agent.library import library_by_key

    raw = copy.deepcopy(library_by_key()[("aws-rds-stop", "1.0.0")].raw)
    raw["metadata"].update(
        playbook_id=playbook_id,
        version="1.0.0",
        status=status,
        author="user_custom",
        storage_strategy="uploaded_for_review",
        name="Stop every production database now",
        based_on={"playbook_id": "aws-rds-stop", "version": "1.0.0"},
        created_at=None,
        updated_at=None,
    )
    raw["metadata"]["tags"] = raw["metadata"]["tags"] | {"risk_level": "high"}
    raw["metadata"].update(meta)
    for fmt in raw["execution_formats"].values():
        if fmt:
            fmt.pop("size_bytes", None)
            fmt.pop("checksum", None)
    raw = {k: v for k, v in raw.items() if v is not None}
    raw["execution_formats"] = {k: v for k, v in raw["execution_formats"].items() if v}
    return raw


def who(infra: Infra, org: str, user: str, *roles: str) -> dict[str, str]:
    return infra.auth(org, user_id=user, roles=list(roles))


def version_url(org: str, pid: str, what: str = "") -> str:
    return f"/api/playbook/metadata/{org}/{pid}/1.0.0{what}"


async def test_a_viewer_cannot_publish_approve_reject_or_break(agent, infra: Infra, org: str) -> None:
    viewer = who(infra, org, "vera", "viewer")
    r = await agent.post(PUBLISH, json=script_playbook("vera-high-risk"), headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "write", r.text
    assert "'write'" in r.json()["detail"] and "author" in r.json()["detail"]
    assert (await agent.get(version_url(org, "vera-high-risk"), headers=viewer)).status_code == 404

    # Another author's version, pending review: the viewer can read it, not approve, reject or break it.
    author = who(infra, org, "ana", "author")
    r = await agent.post(PUBLISH, json=script_playbook("ana-high-risk"), headers=author)
    assert r.status_code == 201, r.text
    status = version_url(org, "ana-high-risk", "/status")
    r = await agent.post(status, json={"status": "approved"}, headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "review", r.text
    r = await agent.post(status, json={"status": "rejected", "reason": "I do not like it"}, headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "review", r.text
    r = await agent.post(status, json={"status": "archived"}, headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "write", r.text
    stats = f"/api/playbook/stats/{org}/ana-high-risk/1.0.0"
    for i in range(5):
        r = await agent.post(stats, json={"success": False, "run_id": f"fake-{i}"}, headers=viewer)
        assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
    got = (await agent.get(version_url(org, "ana-high-risk"), headers=viewer)).json()
    assert (got["status"], got["storage_strategy"]) == ("pending_review", "uploaded_for_review")
    assert got["stats"]["failure_count"] == 0
    history = (await agent.get(version_url(org, "ana-high-risk", "/history"), headers=viewer)).json()
    assert [h["actor"] for h in history] == ["ana"]


async def test_the_author_cannot_approve_her_own_publication(agent, infra: Infra, org: str) -> None:
    # Every role there is does not make an author her own reviewer.
    ana = who(infra, org, "ana", "author", "reviewer", "admin")
    r = await agent.post(PUBLISH, json=script_playbook("ana-own"), headers=ana)
    assert r.status_code == 201, r.text
    status = version_url(org, "ana-own", "/status")
    r = await agent.post(status, json={"status": "approved"}, headers=ana)
    assert r.status_code == 403, r.text
    assert "four eyes" in r.json()["detail"] and "you published ana-own@1.0.0" in r.json()["detail"]
    # Nor can she skip the review by activating it.
    r = await agent.post(status, json={"status": "active"}, headers=ana)
    assert r.status_code == 409, r.text
    got = (await agent.get(version_url(org, "ana-own"), headers=ana)).json()
    assert (got["status"], got["storage_strategy"]) == ("pending_review", "uploaded_for_review")

    # Someone else reviews it; only then is it trusted, and the author may put it to use.
    rita = who(infra, org, "rita", "reviewer")
    r = await agent.post(status, json={"status": "approved"}, headers=rita)
    assert r.status_code == 200 and r.json()["storage_strategy"] == "uploaded_trusted", r.text
    r = await agent.post(status, json={"status": "active"}, headers=ana)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    history = (await agent.get(version_url(org, "ana-own", "/history"), headers=ana)).json()
    assert [(h["to_status"], h["actor"]) for h in history] == [
        ("pending_review", "ana"),
        ("approved", "rita"),
        ("active", "ana"),
    ]


async def test_a_reviewer_of_another_org_cannot_review(agent, infra: Infra, org: str) -> None:
    r = await agent.post(PUBLISH, json=script_playbook("ana-tenant"), headers=who(infra, org, "ana", "author"))
    assert r.status_code == 201, r.text
    outsider = who(infra, f"{org}-b", "rita", "reviewer")
    r = await agent.post(version_url(org, "ana-tenant", "/status"), json={"status": "approved"}, headers=outsider)
    assert r.status_code == 403 and "org" in r.json()["detail"], r.text
    r = await agent.post(
        version_url(f"{org}-b", "ana-tenant", "/status"), json={"status": "approved"}, headers=outsider
    )
    assert r.status_code == 404, r.text


async def test_execution_stats_need_operate_and_stay_in_their_org(agent, infra: Infra, org: str) -> None:
    ana = who(infra, org, "ana", "author")
    r = await agent.post(PUBLISH, json=script_playbook("counted"), headers=ana)
    assert r.status_code == 201, r.text
    # An operator (or the agent's service token) of another org, naming this org or its own.
    for roles in (("operator",), ("agent",)):
        other = who(infra, f"{org}-b", "bot", *roles)
        r = await agent.post(f"/api/playbook/stats/{org}/counted/1.0.0", json={"success": False}, headers=other)
        assert r.status_code == 403, r.text
        r = await agent.post(f"/api/playbook/stats/{org}-b/counted/1.0.0", json={"success": False}, headers=other)
        assert r.status_code == 404, r.text
    # The org's own runtime token records them.
    runtime = who(infra, org, "runbook-runtime", "agent")
    r = await agent.post(f"/api/playbook/stats/{org}/counted/1.0.0", json={"success": True}, headers=runtime)
    assert r.status_code == 200 and r.json()["success_count"] == 1, r.text
    got = (await agent.get(version_url(org, "counted"), headers=ana)).json()
    assert got["stats"] | {"last_executed_at": None} == {
        "success_count": 1,
        "failure_count": 0,
        "consecutive_failures": 0,
        "success_rate": 1.0,
        "last_executed_at": None,
    }


async def test_storage_strategies_mean_what_they_say(agent, infra: Infra, org: str) -> None:
    ana = who(infra, org, "ana", "author")
    doc = script_playbook("private-creds", storage_strategy="local_only", status="ready")
    r = await agent.post(PUBLISH, json=doc, headers=ana)
    assert r.status_code == 422, r.text
    assert "stays on the client" in r.json()["detail"] and "never stores it" in r.json()["detail"]
    assert (await agent.get(version_url(org, "private-creds"), headers=ana)).status_code == 404

    doc = script_playbook("self-trusted", storage_strategy="uploaded_trusted")
    r = await agent.post(PUBLISH, json=doc, headers=ana)
    assert r.status_code == 422 and "granted by a review" in r.json()["detail"], r.text
    r = await agent.post(PUBLISH, json=script_playbook("self-active", status="active"), headers=ana)
    assert r.status_code == 422 and "after a reviewer other than its author" in r.json()["detail"], r.text
    r = await agent.post(PUBLISH, json=script_playbook("self-default", storage_strategy="using_default"), headers=ana)
    assert r.status_code == 422 and "library" in r.json()["detail"], r.text

    # ready cannot go straight to active: the way is pending_review, then a review.
    r = await agent.post(PUBLISH, json=script_playbook("readied", status="ready"), headers=ana)
    assert r.status_code == 201, r.text
    r = await agent.post(version_url(org, "readied", "/status"), json={"status": "active"}, headers=ana)
    assert r.status_code == 409 and "active" not in r.json()["allowed"], r.text

    # The team sees an uploaded_for_review version only as pending, with the warning.
    r = await agent.post(PUBLISH, json=script_playbook("shared-rds"), headers=ana)
    assert r.status_code == 201, r.text
    r = await agent.post(
        "/api/playbook/search",
        json={"query": "stop production rds database now", "limit": 20},
        headers=who(infra, org, "tom", "viewer"),
    )
    assert r.status_code == 200, r.text
    found = {x["playbook_id"]: x for x in r.json()["results"]}
    assert "private-creds" not in found and "readied" not in found
    assert found["shared-rds"]["status"] == "pending_review"
    assert any("Pending review" in w for w in found["shared-rds"]["warnings"])


# -- exception-playbook: the actor is the caller ------------------------------------------

POLICY: dict[str, Any] = {
    "status_transitions": {"open": ["in_progress"], "in_progress": ["resolved"]},
    "tool_allow_list": [],
    "notification_channels": ["slack"],
    "templates": {},
}
PLAYBOOK: dict[str, Any] = {
    "name": "Triage",
    "conditions": {"match": {}},
    "steps": [
        {"name": "Take it", "action_type": "assign_owner", "params": {"queue": "desk"}},
        {"name": "Work it", "action_type": "set_status", "params": {"status": "in_progress"}},
        {"name": "Note", "action_type": "add_comment", "params": {"text_template": "done"}},
    ],
}


async def test_the_actor_is_the_token_not_the_body(infra: Infra, org: str) -> None:
    async with running_service("exception-playbook", infra) as (client, _runtime, _app):
        admin = infra.auth(org)
        assert (await client.post("/api/policy-pack/versions", json=POLICY, headers=admin)).status_code == 201
        assert (await client.post("/api/playbooks", json=PLAYBOOK, headers=admin)).status_code == 201
        body = {"domain": "Ops", "exception_type": "Stuck", "severity": "low", "attributes": {}}
        exc = (await client.post("/api/exceptions", json=body, headers=admin)).json()
        steps = f"/api/exceptions/{exc['id']}/playbook/steps"

        # A person's token claiming to be the triage agent, or the system, or a colleague: refused.
        person = who(infra, org, "olga", "operator")
        for claim in (
            {"actor_type": "system", "actor_id": "TriageAgent"},
            {"actor_type": "agent", "actor_id": "TriageAgent"},
            {"actor_id": "TriageAgent"},
            {"actor_type": "human", "actor_id": "someone-else"},
        ):
            r = await client.post(f"{steps}/1/complete", json=claim, headers=person)
            assert r.status_code == 403, (claim, r.text)
            assert "token" in r.json()["detail"] or "themselves" in r.json()["detail"]
        # A viewer cannot drive steps at all.
        r = await client.post(f"{steps}/1/complete", json={}, headers=who(infra, org, "vera", "viewer"))
        assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
        # The agent acts with a token of its own kind, and cannot pose as a person.
        bot = who(infra, org, "TriageAgent", "agent")
        r = await client.post(f"{steps}/1/complete", json={"actor_type": "human"}, headers=bot)
        assert r.status_code == 403, r.text
        r = await client.post(f"{steps}/1/complete", json={"notes": "took it"}, headers=bot)
        assert r.status_code == 200, r.text
        r = await client.post(f"{steps}/2/complete", json={"actor_type": "human", "notes": "on it"}, headers=person)
        assert r.status_code == 200, r.text

        events = (await client.get(f"/api/exceptions/{exc['id']}/events", headers=person)).json()["items"]
        actors = {(e["actor_type"], e["actor_id"]) for e in events if e["actor_type"]}
        assert ("system", "TriageAgent") not in actors and ("human", "TriageAgent") not in actors
        assert {("agent", "TriageAgent"), ("human", "olga")} <= actors
        view = (await client.get(f"/api/exceptions/{exc['id']}/playbook", headers=person)).json()
        assert [(s["actor_type"], s["actor_id"]) for s in view["steps"][:2]] == [
            ("agent", "TriageAgent"),
            ("human", "olga"),
        ]


# -- condition-engine: an author drafts, switching automation on is operating it ----------


async def test_an_author_cannot_switch_automation_on(infra: Infra, org: str) -> None:
    async with running_service("condition-engine", infra) as (client, _runtime, _app):
        author = who(infra, org, "ana", "author")
        body = {
            "name": "Log big deals",
            "trigger": "activity_event",
            "conditions": [{"field": "activity.type", "op": "equals", "value": "deal"}],
            "actions": [{"type": "log_activity", "params": {"type": "big_deal"}}],
        }
        r = await client.post("/api/playbooks", json=body | {"status": "active"}, headers=author)
        assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
        r = await client.post("/api/playbooks", json=body, headers=author)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await client.post(f"/api/playbooks/{pid}/activate", headers=author)
        assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
        r = await client.post(f"/api/playbooks/{pid}/activate", headers=who(infra, org, "olga", "operator"))
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        # Once live, changing it is operating it too.
        r = await client.patch(f"/api/playbooks/{pid}", json={"name": "Renamed"}, headers=author)
        assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
