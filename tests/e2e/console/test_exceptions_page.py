"""Exception detail page against the real exception-playbook: the Recommended Playbook panel and the timeline."""

from __future__ import annotations

from typing import Any

import httpx

from playbooks_dev.testing import Infra

PLAYBOOK: dict[str, Any] = {
    "name": "Payment mismatch triage",
    "description": "Route a payment mismatch to the payments queue, note it, and start work on it.",
    "conditions": {"match": {"domain": "Finance", "exception_type": "payment_mismatch"}, "priority": 10},
    "steps": [
        {"name": "Route to payments ops", "action_type": "assign_owner", "params": {"queue": "payments-ops"}},
        {"name": "Note the mismatch", "action_type": "add_comment", "params": {"text_template": "Triage started."}},
        {"name": "Start work", "action_type": "set_status", "params": {"status": "in_progress"}, "skippable": False},
    ],
}
EXCEPTION = {
    "domain": "Finance",
    "exception_type": "payment_mismatch",
    "severity": "high",
    "summary": "Invoice 4411 paid twice",
    "external_id": "erp-4411",
    "policy_tags": ["payments"],
}


def steps(page) -> dict[int, tuple[str, bool]]:
    """Each step's (status, is current) as the panel shows it."""
    return {
        int(li.get_attribute("data-step")): (li.get_attribute("data-status"), "current" in li.get_attribute("class"))
        for li in page.all("[data-test=playbook-panel] [data-test=steps] li")
    }


def timeline(page) -> list[tuple[str, bool]]:
    return [
        (li.get_attribute("data-event"), "marked" in li.get_attribute("class"))
        for li in page.all("[data-test=timeline] li")
    ]


def test_completing_a_step_updates_the_panel_and_the_timeline(page, console, infra: Infra, org: str, screenshot):
    token = infra.token(org, user_id="alice")
    with httpx.Client(
        base_url=console.backend("exception-playbook"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        r = client.post("/api/playbooks", json=PLAYBOOK)
        assert r.status_code == 201, r.text
        r = client.post("/api/exceptions", json=EXCEPTION)
        assert r.status_code == 201, r.text
    exception_id = r.json()["id"]

    page.sign_in(token, "exceptions")
    page.ready("exceptions")
    page.find(f"a[href='#/exceptions/{exception_id}']").click()
    page.ready("exceptions")
    assert page.text("[data-test=playbook-name]") == "Payment mismatch triage"
    assert page.text("[data-test=playbook-version]") == "v1"
    assert steps(page) == {1: ("pending", True), 2: ("pending", False), 3: ("pending", False)}
    assert "assign_owner" in page.text("[data-step='1']")
    assert timeline(page) == [("ExceptionCreated", False), ("PlaybookStarted", True)]

    page.type("[data-step='1'] [data-test=notes]", "routed by hand")
    page.find("[data-step='1'] [data-test=complete]").click()
    page.wait(lambda b: steps(page).get(1, ("",))[0] == "completed")
    assert steps(page) == {1: ("completed", False), 2: ("pending", True), 3: ("pending", False)}
    assert "human completed by alice" in page.text("[data-step='1']")
    # seed 001's states: the step done, the current one running for someone who may drive it, the rest pending
    states = [li.get_attribute("data-state") for li in page.all("[data-test=playbook-panel] [data-test=steps] li")]
    assert states == ["completed", "running", "pending"]
    assert page.all("[data-test=timeline] [data-test=playbook-badge]")
    events = timeline(page)
    assert events[-1] == ("PlaybookStepCompleted", True) and ("ExceptionCreated", False) in events
    assert "routed by hand" in page.text("[data-test=timeline] li:last-child")
    assert "queue:payments-ops" in page.text("[data-test=exception]")  # the step's action ran

    page.find("[data-step='2'] [data-test=skip]").click()
    page.wait(lambda b: steps(page).get(2, ("",))[0] == "skipped")
    assert steps(page)[3] == ("pending", True)
    assert not page.all("[data-step='3'] [data-test=skip]")  # the last step may not be skipped
    assert timeline(page)[-1] == ("PlaybookStepSkipped", True)

    page.find("[data-test=recalculate]").click()
    assert "nothing changed" in page.text("#flash [data-test=note]")
    screenshot("exception-detail")

    # The last step sets the status and completes the playbook.
    page.find("[data-step='3'] [data-test=complete]").click()
    page.wait(lambda b: steps(page).get(3, ("",))[0] == "completed")
    assert "in_progress" in page.text("[data-test=exception]")
    assert page.text("[data-test=playbook-state]") == "Completed"

    # A viewer sees a new exception's current step blocked on someone whose role may drive it, and no button.
    with httpx.Client(
        base_url=console.backend("exception-playbook"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        r = client.post("/api/exceptions", json=EXCEPTION | {"external_id": "erp-4412"})
        assert r.status_code == 201, r.text
    page.sign_in(infra.token(org, user_id="vera", roles=["viewer"]), f"exceptions/{r.json()['id']}")
    page.ready("exceptions")
    states = [li.get_attribute("data-state") for li in page.all("[data-test=playbook-panel] [data-test=steps] li")]
    assert states == ["blocked", "pending", "pending"]
    assert "role grants 'operate'" in page.text("[data-step='1'] [data-test=blocked-why]")
    assert not page.all("[data-test=playbook-panel] button")
    screenshot("exception-blocked")


def test_an_unknown_exception_shows_the_api_message(page, console, infra: Infra, org: str) -> None:
    console.backend("exception-playbook")
    page.sign_in(infra.token(org), "exceptions/no-such-exception")
    assert "no-such-exception" in page.text("[data-test=error]")
