"""Runs page against the real runbook-runtime: steps, evidence for a manual step, approval, trace."""

from __future__ import annotations

from typing import Any

import httpx

from playbooks_platform.testing import Infra

RUNBOOK: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "restart-db", "version": "3", "governance": {"allowed_commands": ["echo"]}},
    "steps": [
        {"id": "check", "type": "cli", "with": {"argv": ["echo", "db is up"]}, "assertions": [{"contains": "up"}]},
        {
            "id": "confirm",
            "type": "manual",
            "title": "Confirm the dashboard is green",
            "required_evidence": [{"kind": "text", "name": "link"}],
            "approvals": {"min": 1, "roles": ["DRI"]},
        },
    ],
}


def test_manual_step_evidence_approval_and_trace(page, console, infra: Infra, org: str, screenshot) -> None:
    # rita requests the run; alice, another person, approves it and drives it on (four eyes)
    requester = infra.token(org, user_id="rita", roles=["runner"])
    token = infra.token(org, user_id="alice", roles=["runner", "approver", "DRI"])
    with httpx.Client(base_url=console.backend("runbook-runtime"), timeout=30) as client:
        r = client.post(
            "/v1/runs",
            json={"runbook": RUNBOOK, "mode": "real", "start": True},
            headers={"Authorization": f"Bearer {requester}"},
        )
        assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]

    page.sign_in(token, "runs")
    page.wait(lambda b: run_id in page.text("[data-test=runs]"))
    screenshot("runs")
    page.find(f"a[href='#/runs/{run_id}']").click()

    current = page.find("[data-test=steps] li.current")
    assert current.get_attribute("data-step") == "confirm" and "waiting" in current.text
    assert "passed" in page.find("[data-step=check]").text
    assert "approval 0/1 (approver/admin and DRI)" in page.text("main")
    page.find("[data-test=evidence-link]").send_keys("https://dash.example/db")
    page.find("[data-test=submit-link]").click()
    page.wait(lambda b: not page.all("[data-test=evidence-link]"))  # the run no longer waits for it
    screenshot("run-waiting")
    page.find("[data-test=approve]").click()
    page.wait(lambda b: not page.all("[data-test=approve]"))
    page.find("[data-test=next]").click()

    page.wait(lambda b: "passed" in page.text("h1"))
    confirm = page.find("[data-step=confirm]")
    assert "passed" in confirm.text and "human" in confirm.text
    trace = page.text("[data-test=trace]")
    assert "confirm" in trace and "check" in trace
    screenshot("run-detail")


def test_api_errors_show_their_message(page, console, infra: Infra, org: str, screenshot) -> None:
    console.backend("runbook-runtime")
    page.sign_in(infra.token(org), "runs/no-such-run")
    error = page.text("[data-test=error]")
    assert "no-such-run" in error  # the problem's detail, not a blank page
    screenshot("error-message")

    page.browser.get(console.url + "/#/runs")
    page.find("[data-test=runbook]").send_keys('{"apiVersion": "runbook/v0", "meta": {"name": "x"}, "steps": []}')
    page.find("[data-test=start]").click()
    assert "step" in page.text("#flash [data-test=error]").lower()
