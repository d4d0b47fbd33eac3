"""The compiler's HTTP API against a real broker: compile, publish for review, validate."""

from __future__ import annotations

import pytest

from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, collect, running_service

MD = """# Pods crash

## Look

```bash
kubectl get pods -n <ns>
kubectl delete pod <pod> -n <ns>
```
"""


@pytest.fixture(scope="module")
async def compiler(infra: Infra):
    async with running_service("compiler", infra) as (client, _runtime, _app):
        yield client


async def test_compile_returns_runbook_mapping_and_diagnostics(compiler, infra: Infra, org: str) -> None:
    r = await compiler.post("/api/compile", json={"markdown": MD, "source_name": "pods.md"}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is True and body["engine"] == "rules" and body["published"] is None
    assert [s["type"] for s in body["runbook"]["steps"]] == ["cli", "manual"]
    assert body["runbook_yaml"].startswith("apiVersion: runbook/v0")
    assert "## Inferred variables" in body["mapping_markdown"]
    assert {d["code"] for d in body["diagnostics"]} == {"todo"}
    assert body["stats"]["approvals"] == 1


async def test_compile_and_publish_for_review(compiler, infra: Infra, org: str) -> None:
    r = await compiler.post(
        "/api/compile", json={"markdown": MD, "publish": True, "version": "3.0.0"}, headers=infra.auth(org)
    )
    assert r.status_code == 200, r.text
    published = r.json()["published"]
    assert published["topic"] == RUNBOOKS_COMPILED.name and published["version"] == "3.0.0"
    [msg] = await collect(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, where=lambda m: m.key == org)
    assert msg.value["id"] == published["message_id"]
    assert msg.value["type"] == "runbook.compiled" and msg.value["org_id"] == org
    data = msg.value["data"]
    assert data["playbook_id"] == published["playbook_id"] and data["name"] == "Pods crash"
    assert data["runbook"] == r.json()["runbook"] and "## Steps" in data["mapping_markdown"]


@pytest.mark.parametrize(
    ("field", "value"), [("version", "1"), ("version", "v2"), ("version", "1.0"), ("playbook_id", "Bad Id!")]
)
async def test_publish_under_an_id_or_version_the_consumers_refuse_is_a_422(
    compiler, infra: Infra, org: str, field: str, value: str
) -> None:
    """recommendation-agent dead-letters a runbooks.compiled.v1 message whose version is not
    MAJOR.MINOR.PATCH (or whose id it cannot store): the compile call refuses it up front instead."""
    r = await compiler.post(
        "/api/compile", json={"markdown": MD, "publish": True, field: value}, headers=infra.auth(org)
    )
    assert r.status_code == 422, r.text
    assert field in r.text


async def test_validate_yaml_and_json_with_source(compiler, infra: Infra, org: str) -> None:
    compiled = (await compiler.post("/api/compile", json={"markdown": MD}, headers=infra.auth(org))).json()
    r = await compiler.post("/api/validate", json={"runbook_yaml": compiled["runbook_yaml"]}, headers=infra.auth(org))
    assert r.status_code == 200 and r.json() == {"valid": True, "problems": []}
    runbook = compiled["runbook"]
    runbook["steps"][0]["with"]["argv"] = ["kubectl", "get", "secrets", "-n", "{{ .ns }}"]
    r = await compiler.post("/api/validate", json={"runbook": runbook, "source_markdown": MD}, headers=infra.auth(org))
    body = r.json()
    assert body["valid"] is False
    assert [(p["code"], p["location"]) for p in body["problems"]] == [("provenance", "steps[0].with.argv[2]")]


async def test_bad_input_is_4xx_problem_json(compiler, infra: Infra, org: str) -> None:
    r = await compiler.post("/api/compile", json={"markdown": ""}, headers=infra.auth(org))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await compiler.post("/api/validate", json={}, headers=infra.auth(org))
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]
    r = await compiler.post("/api/validate", json={"runbook_yaml": "a: [b"}, headers=infra.auth(org))
    assert r.status_code == 422 and "not YAML" in r.json()["detail"]
    r = await compiler.post("/api/compile", json={"markdown": MD})
    assert r.status_code == 401
