"""The seeds' names, used against the platform: a tenant_id of another org, an s3_path into another org or
out of its tree, and a seed name contradicting its native twin. Each is refused with a clear 4xx, and
nothing of the other org is read or written."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from playbooks_dev.testing import Infra

STEP = {"name": "Note", "action_type": "add_comment", "params": {"text_template": "seen"}}
PLAYBOOK = {"name": "Seed-shaped", "conditions": {"match": {"domain": "Finance"}}, "steps": [STEP]}


def problem(r, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


# -- exception-playbook -------------------------------------------------------------------------


async def test_exception_playbook_refuses_another_orgs_tenant_id(exception_svc, infra: Infra, org: str):
    client, _ = exception_svc
    victim = f"{org}-victim"
    mine, theirs = infra.auth(org), infra.auth(victim)
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "tenant_id": victim}, headers=mine)
    problem(r, 403, f"tenant_id {victim!r} is not the org of your token ({org!r})")
    r = await client.post(
        "/api/exceptions",
        json={"tenant_id": victim, "domain": "Finance", "exception_type": "x", "severity": "high"},
        headers=mine,
    )
    problem(r, 403, victim)
    r = await client.post(
        "/api/playbooks/match",
        json={"tenant_id": victim, "domain": "Finance", "exception_type": "x", "severity": "high"},
        headers=mine,
    )
    problem(r, 403, victim)
    # The own org's id is fine (the seeds send it), and the refused bodies wrote nothing anywhere.
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "tenant_id": org}, headers=mine)
    assert r.status_code == 201, r.text
    created = r.json()
    r = await client.post(
        f"/api/playbooks/{created['playbook_id']}/versions", json={**PLAYBOOK, "tenant_id": victim}, headers=mine
    )
    problem(r, 403, victim)
    assert (await client.get("/api/playbooks", headers=theirs)).json()["items"] == []
    assert len((await client.get("/api/playbooks", headers=mine)).json()["items"]) == 1
    r = await client.post(
        "/api/exceptions", json={"domain": "Finance", "exception_type": "x", "severity": "high"}, headers=mine
    )
    exc = r.json()["id"]
    r = await client.patch(f"/api/exceptions/{exc}", json={"tenant_id": victim, "summary": "x"}, headers=mine)
    problem(r, 403, victim)
    r = await client.post(f"/api/exceptions/{exc}/playbook/steps/1/complete", json={"tenant_id": victim}, headers=mine)
    problem(r, 403, victim)
    assert (await client.get(f"/api/exceptions/{exc}/playbook", headers=mine)).json()["current_step"] == 1
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "tenant_id": "../" + victim}, headers=mine)
    problem(r, 422, "tenant_id")


@pytest.mark.parametrize(
    ("orders", "words"),
    [
        ([2, 1], ("steps[0].step_order is 2 but it is step 1 in the list",)),
        ([1, 1], ("steps[1].step_order is 1 but it is step 2 in the list",)),
        ([1, 3], ("steps[1].step_order is 3 but it is step 2",)),
        ([None, 5], ("steps[1].step_order is 5",)),
    ],
)
async def test_step_order_that_contradicts_the_position_is_a_clear_422(
    exception_svc, infra: Infra, org: str, orders: list[int | None], words: tuple[str, ...]
):
    client, _ = exception_svc
    steps = [{**STEP, **({"step_order": o} if o is not None else {})} for o in orders]
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "steps": steps}, headers=infra.auth(org))
    problem(r, 422, *words)
    assert (await client.get("/api/playbooks", headers=infra.auth(org))).json()["items"] == []


async def test_playbook_version_claims(exception_svc, infra: Infra, org: str):
    client, _ = exception_svc
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "version": 3}, headers=infra.auth(org))
    problem(r, 422, "a new playbook is version 1, not 3")
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "version": 0}, headers=infra.auth(org))
    problem(r, 422, "version")
    r = await client.post("/api/playbooks", json={**PLAYBOOK, "version": 1}, headers=infra.auth(org))
    first = r.json()["playbook_id"]
    r = await client.post(f"/api/playbooks/{first}/versions", json={**PLAYBOOK, "version": 5}, headers=infra.auth(org))
    problem(r, 409, "the body makes version 5, but playbook", "at version 1: the next is 2")


# -- recommendation-agent ----------------------------------------------------------------------


def doc(playbook_id: str = "team-stop", version: str = "1.0.0") -> dict[str, Any]:
    return {
        "metadata": {
            "playbook_id": playbook_id,
            "version": version,
            "name": "Team stop",
            "description": "Stop the instance",
            "purpose": "Cost",
            "author": "user_custom",
            "storage_strategy": "uploaded_for_review",
            "status": "pending_review",
            "tags": {"category": "cost-optimization", "risk_level": "low", "requires_approval": False},
        },
        "parameters": [{"name": "instance_id", "type": "string", "description": "The instance"}],
        "explain_plan": {
            "what_it_does": "Stops it",
            "why_use_it": ["cost"],
            "what_happens": [
                {"step": 1, "action": "Stop", "details": "Stop it", "duration_seconds": 5, "can_fail": True}
            ],
            "rollback_strategy": "Start it",
            "success_criteria": ["stopped"],
        },
        "execution_formats": {"shell": {"content": "#!/bin/sh\necho stop\n", "entry_point": "main.sh"}},
    }


async def upload(client, infra: Infra, org: str, playbook_id: str, files: dict[str, bytes]) -> dict[str, str]:
    """Upload files for ``playbook_id``@1.0.0 of ``org``; their s3 paths."""
    body = {"playbook_id": playbook_id, "version": "1.0.0", "files": list(files)}
    r = await client.post("/api/playbook/upload/request", json=body, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    paths = {}
    for file, url in r.json()["urls"].items():
        parts = urlsplit(url)
        put = await client.put(f"{parts.path}?{parts.query}", content=files[file])
        assert put.status_code == 200, put.text
        paths[file] = put.json()["s3_path"]
    return paths


async def test_recommendation_refuses_another_orgs_tenant_id(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    victim = f"{org}-victim"
    mine = infra.auth(org)
    r = await client.post("/api/playbook/search", json={"query": "stop rds", "tenant_id": victim}, headers=mine)
    problem(r, 403, f"tenant_id {victim!r} is not the org of your token ({org!r})")
    r = await client.post("/api/playbook/metadata/publish", json={**doc(), "tenant_id": victim}, headers=mine)
    problem(r, 403, victim)
    by_path = {
        "tenant_id": victim,
        "playbook_id": "team-stop",
        "version": "1.0.0",
        "s3_paths": {"shell": f"s3://b-b/tenants/{org}/playbooks/team-stop/v1.0.0/shell/main.sh"},
    }
    r = await client.post("/api/playbook/metadata/publish", json=by_path, headers=mine)
    problem(r, 403, victim)
    r = await client.post(
        "/api/playbook/upload/request",
        json={"tenant_id": victim, "playbook_id": "team-stop", "version": "1.0.0", "files": ["shell/main.sh"]},
        headers=mine,
    )
    problem(r, 403, victim)
    params = {"playbook_id": "aws-rds-stop", "version": "1.0.0", "tenant_id": victim}
    problem(await client.get("/api/script/download", params=params, headers=mine), 403, victim)
    r = await client.get(f"/api/playbook/metadata/{victim}/team-stop/1.0.0", headers=infra.auth(victim))
    assert r.status_code == 404  # nothing was published into the victim's org


async def test_s3_path_into_another_org_is_forbidden(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    victim = f"{org}-victim"
    paths = await upload(client, infra, victim, "secret-pb", {"shell/main.sh": b"#!/bin/sh\necho secret\n"})
    theirs = paths["shell/main.sh"]
    assert f"/tenants/{victim}/" in theirs
    # The victim reads it; the attacker neither by the path nor by a bucket of its choosing, nor by publishing it.
    r = await client.get("/api/script/download", params={"s3_path": theirs}, headers=infra.auth(victim))
    assert r.status_code == 200, r.text
    for path in (theirs, theirs.replace("s3://playbooks-tenant-data/", "s3://escher-tenant-data/")):
        r = await client.get("/api/script/download", params={"s3_path": path}, headers=infra.auth(org))
        problem(r, 403, f"tenant {victim!r}", f"org {org!r}")
    missing = theirs.replace("secret-pb", "no-such-pb")
    r = await client.get("/api/script/download", params={"s3_path": missing}, headers=infra.auth(org))
    problem(r, 403, victim)  # the same answer whether the object exists or not
    # Publishing it by path: refused before anything is read (no metadata given, none uploaded: still the 403).
    body = {"playbook_id": "secret-pb", "version": "1.0.0", "s3_paths": {"shell": theirs}}
    r = await client.post("/api/playbook/metadata/publish", json=body, headers=infra.auth(org))
    problem(r, 403, victim)


TRAVERSALS = [
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/../../../../tenants/{victim}/playbooks/p1/v1.0.0/shell/a.sh",
    "s3://bucket/tenants/{org}/../{victim}/playbooks/p1/v1.0.0/shell/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/shell/%2e%2e/%2e%2e/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/shell\\..\\..\\a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/./shell/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0//shell/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/shell/a.sh\x00.txt",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/shell/a.sh?versionId=1",
    "file:///etc/passwd",
    "https://evil.example/tenants/{org}/playbooks/team-stop/v1.0.0/shell/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v../shell/a.sh",
    "s3://bucket/tenants/{org}/playbooks/team-stop/v1.0.0/a/b/c/d/e/f.sh",
    "s3://bucket/" + "a/" * 600,
]


@pytest.mark.parametrize("template", TRAVERSALS)
async def test_s3_path_traversal_is_refused(recommendation_svc, infra: Infra, org: str, template: str):
    client, _ = recommendation_svc
    path = template.format(org=org, victim=f"{org}-victim")
    r = await client.get("/api/script/download", params={"s3_path": path}, headers=infra.auth(org))
    assert r.status_code == 422, r.text
    assert "s3" in r.text or "path" in r.text
    body = {"playbook_id": "team-stop", "version": "1.0.0", "s3_paths": {"shell": path}}
    r = await client.post("/api/playbook/metadata/publish", json=body, headers=infra.auth(org))
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda d: (
                d
                | {
                    "metadata": {
                        **d["metadata"],
                        "based_on": {"playbook_id": "aws-rds-stop", "version": "1.0.0"},
                        "based_on_escher": True,
                        "escher_playbook_id": "aws-rds-start",
                        "escher_version": "1.0.0",
                    }
                }
            ),
            ("escher_playbook_id/escher_version (aws-rds-start@1.0.0", "based_on", "different values"),
        ),
        (
            lambda d: (
                d | {"metadata": {**d["metadata"], "based_on_escher": False, "escher_playbook_id": "aws-rds-stop"}}
            ),
            ("based_on_escher is false but",),
        ),
        (
            lambda d: d | {"parameters": {"instance_id": {"name": "region", "type": "string", "description": "x"}}},
            ("parameter 'instance_id' is keyed by one name and says name 'region'",),
        ),
        (
            lambda d: (
                d | {"execution_formats": {"shell": {"content": "echo a", "code": "echo b", "entry_point": "main.sh"}}}
            ),
            ("'code' (the source design's name) and 'content' (this API's name)", "different values"),
        ),
        (
            lambda d: d | {"metadata": {**d["metadata"], "author": "escher_library"}},
            ("cannot publish with author 'library'",),
        ),
    ],
)
async def test_alias_collisions_are_clear_422s(recommendation_svc, infra: Infra, org: str, change, words):
    client, _ = recommendation_svc
    r = await client.post("/api/playbook/metadata/publish", json=change(doc()), headers=infra.auth(org))
    problem(r, 422, *words)


async def test_equal_aliases_are_accepted_and_download_names_must_agree(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    d = doc()
    d["execution_formats"]["shell"]["code"] = d["execution_formats"]["shell"]["content"]  # both, alike: fine
    d["metadata"] |= {"based_on_escher": True, "escher_playbook_id": "aws-rds-stop", "escher_version": "1.0.0"}
    d["metadata"]["based_on"] = {"playbook_id": "aws-rds-stop", "version": "1.0.0"}
    r = await client.post("/api/playbook/metadata/publish", json=d, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    s3 = f"s3://x-y/tenants/{org}/playbooks/team-stop/v1.0.0/shell/main.sh"
    ok = await client.get("/api/script/download", params={"s3_path": s3, "version": "1.0.0"}, headers=infra.auth(org))
    assert ok.status_code == 200, ok.text
    r = await client.get(
        "/api/script/download", params={"s3_path": s3, "playbook_id": "aws-rds-stop"}, headers=infra.auth(org)
    )
    problem(r, 422, "playbook_id is 'aws-rds-stop' but s3_path names 'team-stop'")
    r = await client.get("/api/script/download", params={"s3_path": s3, "format": "python"}, headers=infra.auth(org))
    problem(r, 422, "format is 'python' but s3_path names 'shell'")
    r = await client.get("/api/script/download", params={"format": "shell"}, headers=infra.auth(org))
    problem(r, 422, "or by s3_path")
    r = await client.post(
        "/api/playbook/search",
        json={"query": "stop rds", "filters": {"cloud_provider": "aws2"}},
        headers=infra.auth(org),
    )
    assert r.status_code == 422 and "cloud_provider" in r.text
