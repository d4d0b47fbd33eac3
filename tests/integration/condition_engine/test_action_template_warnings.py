"""The old ``"{{ dotted.path }}"`` form is accepted on create and update for one release: stored as
``"{{ .dotted.path }}"`` and reported in ``warnings``; the new form gets none."""

from __future__ import annotations

import pytest

from playbooks_dev.testing import Infra, running_service

CONDITIONS = [{"field": "activity.type", "op": "equals", "value": "contract_signed"}]


@pytest.fixture(scope="module")
async def engine(infra: Infra):
    async with running_service("condition-engine", infra) as (client, runtime, _app):
        yield client, runtime


def _body(doc: str) -> dict:
    return {
        "name": "warns",
        "trigger": "activity_event",
        "conditions": CONDITIONS,
        "actions": [{"type": "log_activity", "params": {"type": "noted", "metadata": {"doc": doc}}}],
    }


async def test_old_form_is_stored_converted_with_a_warning(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    r = await client.post("/api/playbooks", json=_body("{{ activity.doc_id }}"), headers=infra.auth(org))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["actions"][0]["params"]["metadata"]["doc"] == "{{ .activity.doc_id }}"
    assert created["warnings"] == [
        {
            "code": "deprecated_template",
            "message": created["warnings"][0]["message"],
            "path": "actions[0].params.metadata.doc",
            "replacement": "{{ .activity.doc_id }}",
        }
    ]
    assert "{{ activity.doc_id }}" in created["warnings"][0]["message"]

    read = (await client.get(f"/api/playbooks/{created['id']}", headers=infra.auth(org))).json()
    assert read["actions"] == created["actions"] and read["warnings"] == []

    patch = {"actions": [{"type": "enqueue_task", "params": {"queue": "q", "ids": ["{{event.id}}"]}}]}
    r = await client.patch(f"/api/playbooks/{created['id']}", json=patch, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    assert r.json()["actions"][0]["params"]["ids"] == ["{{ .event.id }}"]
    assert [(w["path"], w["replacement"]) for w in r.json()["warnings"]] == [
        ("actions[0].params.ids[0]", "{{ .event.id }}")
    ]


async def test_new_form_has_no_warning_and_bad_paths_are_still_refused(engine, infra: Infra, org: str) -> None:
    client, _ = engine
    r = await client.post("/api/playbooks", json=_body("{{ .activity.doc_id }}"), headers=infra.auth(org))
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    assert r.json()["actions"][0]["params"]["metadata"]["doc"] == "{{ .activity.doc_id }}"
    r = await client.post("/api/playbooks", json=_body("{{ not a path }}"), headers=infra.auth(org))
    assert r.status_code == 422 and "not a dotted path" in r.text
