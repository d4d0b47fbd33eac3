"""Playbooks page against the real condition-engine: a template, activation, the dry-run modal, runs, insights."""

from __future__ import annotations

import asyncio
import json

import httpx

from playbooks_contracts import Envelope
from playbooks_contracts.topics import TRIGGERS
from playbooks_dev.testing import Infra, produce

INVESTOR_TEMPLATE = "investor-snapshot-update-recommended"
CONTRACT_TEMPLATE = "contract-signed-renewal-reminder"
# Passes pack_type and totalMonthlyBurn, fails estimatedRunwayMonths < 6.
LONG_RUNWAY = {
    "metrics": {"pack_type": "investor_accounts_snapshot", "estimatedRunwayMonths": 14, "totalMonthlyBurn": 50000}
}


def feed_events(infra: Infra, org: str) -> None:
    """Two signed contracts and one investor snapshot with a long runway, as trigger-ingest would publish them."""
    events = [
        Envelope(type="activity_event", org_id=org, source="test", data={"activity": {"type": "contract_signed"}}),
        Envelope(type="activity_event", org_id=org, source="test", data={"activity": {"type": "contract_signed"}}),
        Envelope(type="accounts_pack_run", org_id=org, source="test", data=LONG_RUNWAY),
    ]
    values = [e.model_dump(mode="json") for e in events]
    asyncio.run(produce(infra.kafka_bootstrap, TRIGGERS.name, values, key=org))


def test_dry_run_shows_passed_and_failed_conditions(page, console, infra: Infra, org: str, screenshot, poll) -> None:
    base = console.backend("condition-engine")
    token = infra.token(org)
    page.sign_in(token, "playbooks")
    page.ready("playbooks")
    assert "No playbooks in this org yet" in page.text("[data-test=playbooks]")

    # Create both from their templates in the browser; activate the contract one there too.
    for key in (CONTRACT_TEMPLATE, INVESTOR_TEMPLATE):
        page.find(f"[data-template={key}] [data-test=use-template]").click()
        page.wait(lambda b, key=key: key in page.text("[data-test=playbooks]"))

    def row(name: str):
        return next(r for r in page.all("[data-test=playbooks] tr[data-playbook]") if r.text.startswith(name))

    names = [r.text.split("\n")[0] for r in page.all("[data-test=playbooks] tr[data-playbook]")]
    assert sorted(names) == ["Contract signed -> renewal reminder", "Investor snapshot -> investor update recommended"]
    assert "inactive" in row("Contract signed").text
    row("Contract signed").find_element("css selector", "[data-test=toggle]").click()
    page.wait(lambda b: "Deactivate" in row("Contract signed").text)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        listed = {p["name"]: p for p in client.get("/api/playbooks").json()["items"]}
        assert listed["Contract signed -> renewal reminder"]["status"] == "active"
        investor_id = listed["Investor snapshot -> investor update recommended"]["id"]
        assert client.post(f"/api/playbooks/{investor_id}/activate").status_code == 200

        # Real runs for the runs table and the insights: two successes and one skipped.
        feed_events(infra, org)

        poll(lambda: len(client.get("/api/playbook-runs").json()["items"]) == 3)

    page.browser.refresh()
    page.ready("playbooks")
    runs = page.find("[data-test=playbook-runs] table")
    page.wait(lambda b: len(page.all("[data-test=playbook-runs] tr[data-run]")) == 3)
    assert runs.text.count("success") == 2 and runs.text.count("skipped") == 1
    assert "estimatedRunwayMonths" in runs.text  # a skipped run says which condition failed
    page.wait(lambda b: "2" in page.text("[data-test=insight-contracts] .kpi"))
    assert page.text("[data-test=insight-accounts] .kpi") == "1"
    assert page.text("[data-test=insight-decks] .kpi") == "0"
    screenshot("playbooks")

    # The status filter asks the API for one status only.
    from selenium.webdriver.support.ui import Select

    Select(page.find("[data-test=status-filter]")).select_by_value("skipped")
    page.wait(lambda b: len(page.all("[data-test=playbook-runs] tr[data-run]")) == 1)
    assert "skipped" in page.text("[data-test=playbook-runs] tr[data-run]")

    # The dry-run modal on the sample event: every condition passes, both actions would run.
    page.find(f"tr[data-playbook='{investor_id}'] [data-test=dry-run]").click()
    page.wait(lambda b: len(page.all("[data-test=modal] [data-test=condition]")) == 3)
    badges = [c.find_element("css selector", ".badge").text for c in page.all("[data-test=condition]")]
    assert badges == ["Passed", "Passed", "Passed"]
    actions = page.all("[data-test=modal] [data-test=action]")
    assert [a.text.split("\n")[0].split(" ")[1] for a in actions] == ["log_activity", "enqueue_task"]
    sample = json.loads(page.text("[data-test=sample-event] pre"))
    assert sample["metrics"]["pack_type"] == "investor_accounts_snapshot"

    # Your own event: the runway condition fails, the others pass, and no action would run.
    own = page.find("[data-test=own-event]")
    own.clear()
    own.send_keys(json.dumps(LONG_RUNWAY))
    page.find("[data-test=dry-run-own]").click()
    page.wait(lambda b: page.all("[data-test=modal] [data-test=no-actions]"))
    conditions = page.all("[data-test=modal] [data-test=condition]")
    outcome = {c.find_element("css selector", "code").text: c for c in conditions}
    passed = outcome['metrics.pack_type equals "investor_accounts_snapshot"']
    failed = outcome["metrics.estimatedRunwayMonths lt 6"]
    assert passed.find_element("css selector", ".badge").text == "Passed"
    assert "passed" in passed.find_element("css selector", ".badge").get_attribute("class")
    assert failed.find_element("css selector", ".badge").text == "Failed"
    assert "failed" in failed.find_element("css selector", ".badge").get_attribute("class")
    assert "14" in failed.find_element("css selector", "[data-test=condition-message]").text
    assert "No action would run" in page.text("[data-test=no-actions]")
    assert json.loads(page.text("[data-test=sample-event] pre")) == LONG_RUNWAY
    screenshot("playbooks-dry-run")

    # A bad event is refused with the API's own message, inside the modal.
    own.clear()
    own.send_keys('{"activity": {"type": "x"}}')
    page.find("[data-test=dry-run-own]").click()
    assert "not a valid accounts_pack_run event" in page.text("[data-test=modal] [data-test=error]")
