"""Every JSON example of the seeds that is a request or an answer of exception-playbook or recommendation-agent,
posted to the real service (``seed_examples/``, one fixture per example; ``seed_examples/README.md`` lists the
seeds' examples that belong to no API here, and why). Requests must be accepted as the seed wrote them (the
tenant swapped for the test's org); answers must have the seed's shape: every key the seed shows, with the
seed's JSON type, at every level (values are the service's own, except where a test says otherwise).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from seed_fixtures import EXAMPLES, seed_example

from playbooks_contracts.seeds import SEED_MEDIA_TYPE
from playbooks_dev.testing import Infra

SEED = {"Accept": SEED_MEDIA_TYPE}
# Where the seed's keys are data (names of parameters, formats, files) or free-form, not fields.
KEYED = {
    "$.results[].parameters",
    "$.results[].scripts",
    "$.urls",
    "$.scripts",
    "$.results[].metadata.scripts",
}
FREE = {"$.results[].metadata.estimated_impact", "$.results[].parameters.*.auto_fill_strategy"}
# A success rate is null until a version has run (the seed shows one of a version that has).
NULLABLE = {"$.success_rate", "$.results[].metadata.success_rate"}


def example(name: str) -> Any:
    return copy.deepcopy(seed_example(name)["example"])


def assert_shape(answer: Any, shape: Any, path: str = "$") -> None:
    """``answer`` has every key of ``shape`` (a seed example), with the same JSON type, at every level."""
    if shape is None or path in FREE or (answer is None and path in NULLABLE):
        return
    if isinstance(shape, bool):
        assert isinstance(answer, bool), f"{path}: {answer!r} is not a boolean"
    elif isinstance(shape, int | float):
        assert isinstance(answer, int | float) and not isinstance(answer, bool), f"{path}: {answer!r} is not a number"
    elif isinstance(shape, str):
        assert isinstance(answer, str), f"{path}: {answer!r} is not a string"
    elif isinstance(shape, list):
        assert isinstance(answer, list), f"{path}: {type(answer).__name__} is not a list"
        for item in answer if shape else []:
            assert_shape(item, shape[0], f"{path}[]")
    else:
        assert isinstance(answer, dict), f"{path}: {type(answer).__name__} is not an object"
        if path in KEYED:  # the tests name the keys they expect; the shared ones must have the seed's shape
            for key in set(shape) & set(answer):
                assert_shape(answer[key], shape[key], f"{path}.*")
            return
        missing = sorted(set(shape) - set(answer))
        assert not missing, f"{path}: the seed's keys {missing} are missing (has {sorted(answer)})"
        for key, value in shape.items():
            assert_shape(answer[key], value, f"{path}.{key}")


def with_org(value: Any, org: str) -> Any:
    """The seed's tenant ``abc123`` replaced by the test's own org."""
    return json.loads(json.dumps(value).replace("abc123", org))


async def search(client, infra: Infra, org: str, body: dict, headers: dict | None = None) -> dict:
    r = await client.post("/api/playbook/search", json=body, headers=infra.auth(org) | (headers or {}))
    assert r.status_code == 200, r.text
    return r.json()


# -- seed 001: exception-playbook --------------------------------------------------------------

POLICY = {
    "status_transitions": {"open": ["in_progress", "escalated"], "escalated": ["in_progress", "resolved"]},
    "notification_channels": ["email"],
    "tool_allow_list": ["ledger.lookup"],
    "templates": {"settlement-alert": {"body": "Settlement failure for ${entity}: ${amount}"}},
}


async def test_001_playbook_with_the_seeds_fields_runs(exception_svc, infra: Infra, org: str):
    client, _ = exception_svc
    playbook = with_org(example("001_playbook.json"), org)
    assert playbook["conditions"] == example("001_conditions.json")  # the seed's own conditions example
    r = await client.post("/api/policy-pack/versions", json=POLICY, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    r = await client.post("/api/playbooks", json=playbook, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["version"] == 1 and created["conditions"] == playbook["conditions"]
    # The answer has every field of seed 001's Playbook (3.1) and PlaybookStep (3.2).
    assert {"playbook_id", "tenant_id", "name", "version", "conditions", "created_at"} <= set(created)
    assert created["tenant_id"] == org
    step_fields = {"step_id", "playbook_id", "step_order", "name", "action_type", "params", "created_at"}
    assert all(step_fields <= set(step) for step in created["steps"])
    assert {step["playbook_id"] for step in created["steps"]} == {created["playbook_id"]}
    assert [(s["step_order"], s["name"]) for s in created["steps"]] == [
        (s["step_order"], s["name"]) for s in playbook["steps"]
    ]
    # The seed's version is the version the body makes: the next one is 2, a stale 2 afterwards is a conflict.
    revised = {**playbook, "version": 2, "name": "Trade settlement failure (revised)"}
    url = f"/api/playbooks/{created['playbook_id']}/versions"
    r = await client.post(url, json=revised, headers=infra.auth(org))
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    r = await client.post(f"/api/playbooks/{r.json()['playbook_id']}/versions", json=revised, headers=infra.auth(org))
    assert r.status_code == 409 and "at version 2: the next is 3" in r.json()["detail"]
    # An exception the seed's conditions match gets the playbook; the seed's complete body completes step 1.
    exc = {
        "tenant_id": org,
        "domain": "Finance",
        "exception_type": "Trade Settlement Failure",
        "severity": "high",
        "sla_deadline": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),  # within the seed's 60 minutes
    }
    r = await client.post("/api/exceptions", json=exc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/exceptions/{r.json()['id']}/playbook", headers=infra.auth(org))
    view = r.json()
    assert view["current_step"] == 1 and view["name"] == revised["name"], view
    body = example("001_step_complete.json")
    who = infra.auth(org, user_id=body["actor_id"])
    r = await client.post(f"/api/exceptions/{view['exception_id']}/playbook/steps/1/complete", json=body, headers=who)
    assert r.status_code == 200, r.text
    assert r.json()["current_step"] == 2 and r.json()["steps"][0]["status"] == "completed"
    assert r.json()["steps"][0]["actor_id"] == body["actor_id"]


async def test_001_conditions_example_previews_a_match(exception_svc, infra: Infra, org: str):
    client, _ = exception_svc
    conditions = example("001_conditions.json")
    step = {"step_order": 1, "name": "Note", "action_type": "add_comment", "params": {"text_template": "seen"}}
    r = await client.post(
        "/api/playbooks", json={"name": "p", "conditions": conditions, "steps": [step]}, headers=infra.auth(org)
    )
    assert r.status_code == 201, r.text
    facts = {"domain": "Finance", "exception_type": "Trade Settlement Failure", "severity": "critical"}
    r = await client.post("/api/playbooks/match", json={**facts, "tenant_id": org}, headers=infra.auth(org))
    # No SLA deadline: "sla_minutes_remaining_lt" cannot hold, so the seed's conditions do not match.
    assert r.status_code == 200 and r.json()["playbook_id"] is None, r.text
    r = await client.post(
        "/api/playbooks/match", json={**facts, "sla_deadline": "2000-01-01T00:00:00Z"}, headers=infra.auth(org)
    )
    assert r.json()["playbook_id"] is not None, r.text


# -- seed 002: recommendation-agent, search ---------------------------------------------------


async def test_002_flow1_search_request_and_answer(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    body = with_org(example("002_flow1_search_request.json"), org)
    assert isinstance(body["filters"]["cloud_provider"], str)  # the seed's one cloud, not a list
    for headers in (SEED, {}):
        answer = await search(client, infra, org, body, headers)
        assert_shape(answer, example("002_flow1_search_response.json"))
        assert answer["results"] and all("rds::instance" in r["metadata"]["resource_types"] for r in answer["results"])
    sources = {r["source"] for r in (await search(client, infra, org, body, SEED))["results"]}
    assert sources <= {"tenant", "escher_library", "ai_generated"} and "escher_library" in sources


async def test_002_step1_intent(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    seed = example("002_intent.json")
    answer = await search(client, infra, org, {"query": "Stop production RDS for weekend"}, SEED)
    assert_shape(answer["intent"], seed)
    picked = {k: answer["intent"][k] for k in ("action", "cloud_provider", "resource_types", "filters", "use_case")}
    assert picked == {k: seed[k] for k in picked}
    assert answer["intent"]["time_based"] is True
    # The default answer carries the seed's names beside this API's (renamed, not reshaped).
    default = await search(client, infra, org, {"query": "Stop production RDS for weekend"})
    assert default["intent"]["use_case"] == default["intent"]["category"] == seed["use_case"]
    assert default["intent"]["time_based"] is True and default["intent"]["time_context"] == "weekend"


async def test_002_step4_search_answer(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    seed = example("002_search_response.json")
    answer = await search(client, infra, org, {"query": seed["query"], "limit": 3}, SEED)
    assert_shape(answer, seed)
    top = answer["results"][0]
    assert isinstance(top["parameters"], dict) and top["parameters"]["instance_id"]["type"] == "string"
    assert "name" not in top["parameters"]["instance_id"]
    assert top["scripts"]["shell"]["code"].startswith("#!") and "content" not in top["scripts"]["shell"]
    assert top["metadata"]["author"] == "escher_library" and top["metadata"]["based_on_escher"] is False
    # This API's own shape by default: parameters a list, both names of the script.
    default = (await search(client, infra, org, {"query": seed["query"], "limit": 3}))["results"][0]
    assert isinstance(default["parameters"], list) and default["parameters"][0]["name"] == "instance_id"
    assert (
        default["scripts"]["shell"]["code"] == default["scripts"]["shell"]["content"] == top["scripts"]["shell"]["code"]
    )


@pytest.mark.parametrize(
    "name",
    ["002_ranking.json", "002_ranking_with_status.json", "002_search_deprecated.json", "002_search_needs_update.json"],
)
async def test_002_ranked_results(recommendation_svc, infra: Infra, org: str, name: str):
    client, _ = recommendation_svc
    seed = example(name)
    item = seed[0] if isinstance(seed, list) else seed["results"][0] if "results" in seed else seed
    for headers in (SEED, {}):
        answer = await search(client, infra, org, {"query": "stop the production database for the weekend"}, headers)
        for result in answer["results"]:
            assert_shape(result, item, "$.results[]")
            assert 0 <= result["confidence"] <= 1 and result["reason"]


async def test_002_library_metadata_in_search(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    seed = example("002_library_metadata.json")
    answer = await search(client, infra, org, {"query": "stop an rds instance", "limit": 3}, SEED)
    library = [r for r in answer["results"] if r["source"] == "escher_library"]
    assert library
    for r in library:
        assert_shape(r["metadata"], seed, "$.results[].metadata")
        assert r["metadata"]["author"] == seed["author"] and r["metadata"]["status"] == seed["status"]
        for fmt, path in r["metadata"]["scripts"].items():
            assert path.endswith(
                f"/playbooks/{r['playbook_id']}/v{r['version']}/{fmt}/" + r["scripts"][fmt]["entry_point"]
            )


# -- seed 002: publish (the document's four parts) ---------------------------------------------


def seed_document(org: str) -> dict[str, Any]:
    """The seed's metadata, parameters, explain plan and execution formats, as one document."""
    return with_org(
        {
            "metadata": example("002_metadata.json"),
            **example("002_parameters.json"),
            **example("002_explain_plan.json"),
            **example("002_execution_formats.json"),
        },
        org,
    )


async def test_002_document_parts_publish(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    doc = seed_document(org)
    # As written, the elided checksums ("sha256:abc123...") are refused, naming the field.
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 422 and "execution_formats.shell.checksum" in r.text, r.text
    # Without them (the service computes them), the seed's "active" is a claim only a review grants.
    for fmt in doc["execution_formats"].values():
        fmt.pop("checksum"), fmt.pop("size_bytes")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 422 and "goes active after a reviewer" in r.json()["detail"], r.text
    doc["metadata"]["status"] = "pending_review"
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    stored = r.json()["document"]
    assert stored["metadata"]["based_on"] == {"playbook_id": "aws-rds-stop", "version": "1.0.0"}
    assert stored["execution_formats"]["terraform"]["providers"] == {"aws": "~> 5.0"}
    # Read back in the seed's shape: its names and its parameter object.
    url = f"/api/playbook/metadata/{org}/user-weekend-shutdown/1.2.0"
    r = await client.get(url, headers=infra.auth(org) | SEED)
    assert r.status_code == 200 and r.headers["content-type"].startswith(SEED_MEDIA_TYPE), r.text
    read = r.json()
    assert_shape(read["document"]["metadata"], {**example("002_metadata.json"), "status": "x"})
    assert read["document"]["metadata"]["escher_playbook_id"] == "aws-rds-stop"
    assert set(read["document"]["parameters"]) == {p["name"] for p in example("002_parameters.json")["parameters"]}
    assert_shape(read, example("002_review_metadata.json") | {"scripts": {"shell": "s"}})


# -- seed 002: upload, publish by path, download, review ---------------------------------------


async def put_signed(client, url: str, content: bytes) -> dict:
    parts = urlsplit(url)
    r = await client.put(f"{parts.path}?{parts.query}", content=content)
    assert r.status_code == 200, r.text
    return r.json()


async def test_002_upload_publish_by_path_download_and_review(recommendation_svc, infra: Infra, org: str):
    client, _ = recommendation_svc
    request = with_org(example("002_upload_request.json"), org)
    r = await client.post("/api/playbook/upload/request", json=request, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    grant = r.json()
    assert_shape(grant, example("002_upload_grant.json"))
    assert set(grant["urls"]) == set(request["files"])
    doc = seed_document(org)
    formats = doc["execution_formats"]
    files = {
        "metadata.json": json.dumps(doc["metadata"]).encode(),  # the seed's metadata.json ("status": "active")
        "parameters.json": json.dumps({"parameters": doc["parameters"]}).encode(),
        "explain_plan.json": json.dumps({"explain_plan": doc["explain_plan"]}).encode(),
        "shell/main.sh": formats["shell"]["content"].encode(),
        "python/stop_rds.py": formats["python"]["content"].encode(),
    }
    uploaded = {f: await put_signed(client, grant["urls"][f], files[f]) for f in request["files"]}
    publish = with_org(example("002_publish_by_path.json"), org)
    prefix = f"s3://escher-tenant-data/tenants/{org}/playbooks/{publish['playbook_id']}/v{publish['version']}"
    publish["s3_paths"] = {"shell": f"{prefix}/shell/main.sh", "python": f"{prefix}/python/stop_rds.py"}
    r = await client.post("/api/playbook/metadata/publish", json=publish, headers=infra.auth(org) | SEED)
    assert r.status_code == 201 and r.headers["content-type"].startswith(SEED_MEDIA_TYPE), r.text
    assert_shape(r.json(), example("002_review_metadata.json") | {"scripts": {"shell": "s"}})
    assert r.json()["document"]["metadata"]["escher_playbook_id"] == "aws-rds-stop"
    version_url = f"/api/playbook/metadata/{org}/{publish['playbook_id']}/{publish['version']}"
    r = await client.get(version_url, headers=infra.auth(org))
    read = r.json()
    assert (read["status"], read["storage_strategy"]) == ("pending_review", "uploaded_for_review")  # as the seed's
    assert read["document"]["execution_formats"]["shell"]["checksum"] == uploaded["shell/main.sh"]["checksum"]
    assert read["document"]["metadata"]["based_on"]["playbook_id"] == "aws-rds-stop"
    # Download: by the seed's query (playbook, version, format, tenant) and by its s3_path, the same script.
    query = with_org(example("002_download_request.json"), org)
    r = await client.get("/api/script/download", params=query, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    assert_shape(r.json(), example("002_download_grant.json"))
    by_path = example("002_download_by_path.json")
    by_path["s3_path"] = publish["s3_paths"]["shell"]
    r2 = await client.get("/api/script/download", params=by_path, headers=infra.auth(org))
    assert r2.status_code == 200 and r2.json()["checksum"] == r.json()["checksum"], r2.text
    parts = urlsplit(r2.json()["url"])
    r3 = await client.get(f"{parts.path}?{parts.query}")
    assert r3.status_code == 200 and r3.content == files["shell/main.sh"]
    # The uploaded (unpublished) metadata.json is reachable by its path too.
    r = await client.get("/api/script/download", params={"s3_path": f"{prefix}/metadata.json"}, headers=infra.auth(org))
    assert r.status_code == 200 and r.json()["checksum"] == uploaded["metadata.json"]["checksum"], r.text
    # Review with the seed's bodies: a reviewer other than the author approves, then rejects another version.
    reviewer = infra.auth(org, user_id="rita", roles=["reviewer"])
    status_url = f"/api/playbook/metadata/{org}/{publish['playbook_id']}/{publish['version']}/status"
    r = await client.post(status_url, json=example("002_status_approve.json"), headers=reviewer | SEED)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert_shape(r.json(), example("002_trusted_metadata.json"))  # the status answer, in the seed's shape
    r = await client.get(status_url.removesuffix("/status"), headers=infra.auth(org) | SEED)
    assert_shape(r.json(), example("002_trusted_metadata.json"))
    assert r.json()["storage_strategy"] == "uploaded_trusted"
    other = {**publish, "version": "1.3.0"}
    r = await client.post("/api/playbook/metadata/publish", json=other, headers=infra.auth(org))
    assert r.status_code == 422 and "needs its metadata: upload metadata.json" in r.json()["detail"]
    doc["metadata"].update(version="1.3.0", status="pending_review")
    for fmt in formats.values():
        fmt.pop("checksum"), fmt.pop("size_bytes")
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    r = await client.post(
        status_url.replace("1.2.0", "1.3.0"), json=example("002_status_reject.json"), headers=reviewer
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text


def test_every_seed_example_has_a_contract_test():
    """Each fixture is named by a test of this module, and each names its seed, section, kind and route."""
    names = {p.name for p in Path(EXAMPLES).glob("*.json")}
    source = Path(__file__).read_text()
    assert len(names) >= 20
    assert not {n for n in names if f'"{n}"' not in source}, "a seed example no test uses"
    for name in names:
        fixture = seed_example(name)
        assert fixture["seed"] in ("001", "002") and fixture["kind"] in ("request", "response"), name
        assert fixture["where"] and fixture["route"] and fixture["line"] > 0 and "example" in fixture, name
