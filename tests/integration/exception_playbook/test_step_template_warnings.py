"""The old ``${path}`` form is accepted on playbook create and new version for one release: stored as
``{{ .path }}`` and reported in ``warnings``; the new form gets none; templates over the bounds are 422."""

from __future__ import annotations

import pytest

from playbooks_dev.testing import Infra, running_service

CONDITIONS = {"match": {"domain": "Finance"}, "priority": 1}


@pytest.fixture(scope="module")
async def svc(infra: Infra):
    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        yield client, runtime


def _body(comment: str, payload: dict | None = None) -> dict:
    return {
        "name": "warns",
        "conditions": CONDITIONS,
        "steps": [
            {"name": "Note", "action_type": "add_comment", "params": {"text_template": comment}},
            {
                "name": "Look up",
                "action_type": "call_tool",
                "params": {"tool_id": "ledger.lookup", "payload_template": payload or {"t": "fixed"}},
            },
        ],
    }


async def test_old_form_is_stored_converted_with_warnings(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    body = _body("Trade ${trade_id} at $desk, $$5", {"trade": "${trade_id}", "list": ["${attributes.a}"]})
    r = await client.post("/api/playbooks", json=body, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    created = r.json()
    steps = created["steps"]
    assert steps[0]["params"]["text_template"] == "Trade {{ .trade_id }} at {{ .desk }}, $5"
    assert steps[1]["params"]["payload_template"] == {"trade": "{{ .trade_id }}", "list": ["{{ .attributes.a }}"]}
    assert [(w["code"], w["path"], w["replacement"]) for w in created["warnings"]] == [
        ("deprecated_template", "steps[0].params.text_template", "{{ .trade_id }}"),
        ("deprecated_template", "steps[0].params.text_template", "{{ .desk }}"),
        ("deprecated_template", "steps[1].params.payload_template.trade", "{{ .trade_id }}"),
        ("deprecated_template", "steps[1].params.payload_template.list[0]", "{{ .attributes.a }}"),
    ]
    assert "${trade_id}" in created["warnings"][0]["message"]

    read = (await client.get(f"/api/playbooks/{created['playbook_id']}", headers=infra.auth(org))).json()
    assert read["steps"][0]["params"] == steps[0]["params"] and read["warnings"] == []

    r = await client.post(
        f"/api/playbooks/{created['playbook_id']}/versions", json=_body("seen ${claim}"), headers=infra.auth(org)
    )
    assert r.status_code == 201, r.text
    assert r.json()["steps"][0]["params"]["text_template"] == "seen {{ .claim }}"
    assert [w["path"] for w in r.json()["warnings"]] == ["steps[0].params.text_template"]


async def test_new_form_has_no_warning_and_bounds_are_422(svc, infra: Infra, org: str) -> None:
    client, _ = svc
    r = await client.post("/api/playbooks", json=_body("seen {{ .claim }} for $5"), headers=infra.auth(org))
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == [] and r.json()["steps"][0]["params"]["text_template"] == "seen {{ .claim }} for $5"
    deep = "{{ ." + ".".join(["a"] * 40) + " }}"
    r = await client.post("/api/playbooks", json=_body(deep), headers=infra.auth(org))
    assert r.status_code == 422 and "segments" in r.text
