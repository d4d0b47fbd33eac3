"""Goals against people who want more than they may: another org's goal, a viewer confirming a run, an
answer that smuggles a var the runbook does not declare or a value it does not allow, and bodies built
to stall the service (oversized text, 10,000 answers, answers nested thousands deep).

Real PostgreSQL, broker and recommendation-agent; the runnable playbook is a reviewed tenant playbook
carrying a runbook, published over HTTP.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from healthz_probe import HEALTHZ_BOUND_S, healthz_watch  # tests/hostile is on sys.path (no __init__.py)

from playbooks_contracts.goals import MAX_ANSWERS, MAX_GOAL_TEXT
from playbooks_contracts.messages import RunbookCompiled
from playbooks_dev.testing import Infra

RUNBOOK: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {
        "name": "rds-weekend-stop",
        "version": "1.0.0",
        "vars": {
            "environment": {"allowed": ["production", "staging"], "description": "Which environment"},
            "instance_id": {"description": "RDS instance identifier"},
            "region": {"allowed": ["us-east-1", "eu-west-1"]},
        },
        "governance": {"allowed_commands": ["aws"]},
    },
    "steps": [
        {
            "id": "stop",
            "type": "cli",
            "with": {
                "argv": [
                    "aws",
                    "rds",
                    "stop-db-instance",
                    "--db-instance-identifier",
                    "{{ .instance_id }}",
                    "--region",
                    "{{ .region }}",
                ]
            },
        }
    ],
}
TEXT = "Stop production RDS for the weekend"


async def runnable_goal(client, infra: Infra, org: str, text: str = TEXT) -> dict[str, Any]:
    """A reviewed tenant playbook with a runbook in ``org``, and a goal (collecting) that picked it."""
    from recommendation_agent.worker import runbook_document

    compiled = RunbookCompiled(
        playbook_id="team-rds-stop",
        version="1.0.0",
        name="Stop RDS instance for the weekend",
        description="Stop an Amazon RDS database instance for the weekend to save cost",
        runbook=copy.deepcopy(RUNBOOK),
    )
    doc = runbook_document(compiled).model_dump(mode="json", exclude_none=True)
    doc["execution_formats"] = {}
    doc["metadata"].pop("created_at", None)
    doc["metadata"].pop("updated_at", None)
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org, user_id="ana"))
    assert r.status_code == 201, r.text
    status = f"/api/playbook/metadata/{org}/team-rds-stop/1.0.0/status"
    r = await client.post(
        status, json={"status": "approved"}, headers=infra.auth(org, user_id="rita", roles=["reviewer"])
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/goals", json={"text": text}, headers=infra.auth(org, user_id="olga", roles=["runner"]))
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["status"] == "collecting" and goal["playbook"]["playbook_id"] == "team-rds-stop", goal
    return goal


@pytest.fixture
async def goal(recommendation_svc, infra: Infra, org: str) -> dict[str, Any]:
    client, _ = recommendation_svc
    return await runnable_goal(client, infra, org)


async def test_another_org_cannot_read_answer_or_confirm(recommendation_svc, infra: Infra, org: str, goal) -> None:
    client, _ = recommendation_svc
    other = infra.auth(f"{org}-b", user_id="mallory", roles=["admin"])
    url = f"/api/goals/{goal['id']}"
    assert (await client.get(url, headers=other)).status_code == 404
    r = await client.post(f"{url}/answers", json={"answers": {"region": "us-east-1"}}, headers=other)
    assert r.status_code == 404, r.text
    r = await client.post(f"{url}/confirm", json={}, headers=other)
    assert r.status_code == 404, r.text
    assert (await client.get("/api/goals", headers=other)).json()["items"] == []
    # and the goal is untouched
    mine = (await client.get(url, headers=infra.auth(org))).json()
    assert mine["status"] == "collecting" and "region" not in {p["name"] for p in mine["parameters"]}
    # an id that is no uuid is a 404 too, never an error
    assert (await client.get("/api/goals/..%2F..%2Fetc", headers=infra.auth(org))).status_code == 404
    assert (await client.get("/api/goals/not-a-goal", headers=infra.auth(org))).status_code == 404


async def test_roles_decide_who_creates_answers_and_confirms(recommendation_svc, infra: Infra, org: str, goal) -> None:
    client, _ = recommendation_svc
    url = f"/api/goals/{goal['id']}"
    viewer = infra.auth(org, user_id="pat", roles=["viewer"])
    r = await client.post("/api/goals", json={"text": TEXT}, headers=viewer)
    assert r.status_code == 403 and r.json()["permission"] == "operate", r.text
    r = await client.post(f"{url}/answers", json={"answers": {"region": "us-east-1"}}, headers=viewer)
    assert r.status_code == 403, r.text
    for who in (viewer, infra.auth(org, user_id="otto", roles=["operator"])):
        r = await client.post(f"{url}/confirm", json={"mode": "real"}, headers=who)
        assert r.status_code == 403 and r.json()["permission"] == "run", r.text
    assert (await client.get(url, headers=viewer)).json()["status"] == "collecting"


async def test_answers_cannot_leave_the_schema(recommendation_svc, infra: Infra, org: str, goal) -> None:
    client, _ = recommendation_svc
    url = f"/api/goals/{goal['id']}/answers"
    olga = infra.auth(org, user_id="olga", roles=["runner"])
    cases = {
        # a value the runbook does not allow
        "region": ({"region": "cn-north-1"}, "region"),
        # an option smuggled into an argv through a value
        "option": ({"instance_id": "--endpoint-url=http://evil"}, "instance_id"),
        # vars the runbook does not declare (environment of the process, another step's capture)
        "PATH": ({"PATH": "/tmp/evil"}, "PATH"),
        "undeclared": ({"region": "us-east-1", "endpoint": "http://evil"}, "endpoint"),
        # control characters (a second line in a log, a NUL)
        "newline": ({"instance_id": "db\nrm -rf /"}, "instance_id"),
        # a list or an object where a value goes
        "list": ({"instance_id": ["a", "b"]}, None),
        "object": ({"instance_id": {"$ne": ""}}, None),
    }
    for label, (answers, parameter) in cases.items():
        r = await client.post(url, json={"answers": answers}, headers=olga)
        assert r.status_code == 422, f"{label}: {r.status_code} {r.text[:300]}"
        if parameter:
            assert repr(parameter) in r.json()["detail"], f"{label}: {r.json()['detail']}"
    # nothing was taken from any of them
    goal_now = (await client.get(f"/api/goals/{goal['id']}", headers=olga)).json()
    assert {p["name"] for p in goal_now["parameters"]} == {p["name"] for p in goal["parameters"]}
    # words cannot declare vars either: only the runbook's declared ones are ever filled
    smuggled = await runnable_goal(client, infra, f"{org}-w", "Stop production RDS PATH=/tmp endpoint=http://x")
    assert {p["name"] for p in smuggled["parameters"]} <= {"environment", "instance_id", "region"}


async def test_hostile_bodies_get_4xx_quickly_and_the_loop_stays_responsive(
    recommendation_svc, infra: Infra, org: str, goal
) -> None:
    client, _ = recommendation_svc
    olga = infra.auth(org, user_id="olga", roles=["runner"])
    url = f"/api/goals/{goal['id']}/answers"
    many = {"answers": {f"p{i}": "x" for i in range(10_000)}}
    # written as text: the client's own encoder would not go that deep
    deep_list = '{"answers": {"instance_id": ' + "[" * 5_000 + '"x"' + "]" * 5_000 + "}}"
    deep_object = '{"answers": {"instance_id": ' + '{"a": ' * 5_000 + '"x"' + "}" * 5_000 + "}}"
    attacks = [
        ("POST", "/api/goals", {"text": "x" * (MAX_GOAL_TEXT + 1)}, None, 422),
        ("POST", "/api/goals", {"text": "stop rds " * 300_000}, None, 413),  # over the body limit
        ("POST", url, many, None, 422),
        ("POST", url, None, deep_list, 400),  # the JSON parser refuses it before any model sees it
        ("POST", url, None, deep_object, 400),
        ("POST", url, {"answers": {"instance_id": "x" * 5_000}}, None, 422),
    ]
    async with healthz_watch(client) as worst:
        for method, path, body, raw, expected in attacks:
            if raw is not None:
                headers = olga | {"content-type": "application/json"}
                r = await client.request(method, path, content=raw, headers=headers)
            else:
                r = await client.request(method, path, json=body, headers=olga)
            assert 400 <= r.status_code < 500, f"{path}: {r.status_code} {r.text[:200]}"
            if expected is not None:
                assert r.status_code == expected, f"{path}: {r.status_code} {r.text[:200]}"
    print(f"worst /healthz latency under goal attacks: {worst[0] * 1000:.0f} ms")
    assert worst[0] < HEALTHZ_BOUND_S, f"the event loop stalled for {worst[0]:.2f} s"
    # the limit is the schema's: as many answers as a playbook has parameters
    assert MAX_ANSWERS == 50
    goal_now = (await client.get(f"/api/goals/{goal['id']}", headers=olga)).json()
    assert goal_now["status"] == "collecting"
