"""Runs page against the real runbook-runtime: steps, evidence for a manual step, approval, trace."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from playbooks_dev.testing import Infra

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


def start_real_run(console, token: str, runbook: dict[str, Any]) -> str:
    with httpx.Client(base_url=console.backend("runbook-runtime"), timeout=30) as client:
        r = client.post(
            "/v1/runs",
            json={"runbook": runbook, "mode": "real", "start": True},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 201, r.text
    return str(r.json()["run_id"])


def test_manual_step_evidence_approval_and_trace(page, console, infra: Infra, org: str, screenshot) -> None:
    # rita requests the run; alice, another person, approves it and drives it on (four eyes)
    requester = infra.token(org, user_id="rita", roles=["runner"])
    token = infra.token(org, user_id="alice", roles=["runner", "approver", "DRI"])
    run_id = start_real_run(console, requester, RUNBOOK)

    page.sign_in(token, "runs")
    page.wait(lambda b: run_id in page.text("[data-test=runs]"))
    screenshot("runs")
    page.find(f"a[href='#/runs/{run_id}']").click()
    page.ready("runs")
    page.wait(lambda b: page.attr("[data-test=live]", "data-live") != "connecting")

    assert page.attr("[data-test=steps] li.current", "data-step") == "confirm"
    assert "waiting" in page.text("[data-test=steps] li.current")
    assert page.attr("[data-test=steps] [data-step=check]", "data-status") == "passed"
    assert "approval 0/1 (approver/admin and DRI)" in page.text("main")
    page.type("[data-test=evidence-link]", "https://dash.example/db")
    page.click("[data-test=submit-link]")
    page.wait(lambda b: not page.all("[data-test=evidence-link]"))  # the run no longer waits for it
    screenshot("run-waiting")
    page.click("[data-test=approve]")
    page.wait(lambda b: not page.all("[data-test=approve]"))
    page.click("[data-test=next]")

    page.wait(lambda b: "passed" in page.text("h1"))
    assert page.attr("[data-test=steps] [data-step=confirm]", "data-status") == "passed"
    assert "human" in page.text("[data-test=steps] [data-step=confirm]")
    trace = page.text("[data-test=trace]")
    assert "confirm" in trace and "check" in trace
    screenshot("run-detail")


def test_api_errors_show_their_message(page, console, infra: Infra, org: str, screenshot) -> None:
    console.backend("runbook-runtime")
    page.sign_in(infra.token(org), "runs/no-such-run")
    error = page.text("[data-test=error]")
    assert "no-such-run" in error  # the problem's detail, not a blank page
    screenshot("error-message")

    # A runbook the service refuses: its own reason is shown, not a blank page or a bare status.
    page.browser.get(console.url + "/#/catalog")
    page.ready("catalog")
    page.type("[data-test=own-runbook]", '{"apiVersion": "runbook/v0", "meta": {"name": "x"}, "steps": []}')
    page.click("[data-test=open-own]")
    page.click("[data-test=start-dry-run]")
    assert "step" in page.text("#flash [data-test=error]").lower()


EVIDENCE_RUNBOOK: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "evidence-first", "version": "1"},
    "steps": [
        {
            "id": "confirm",
            "type": "manual",
            "title": "Show the dashboard",
            "required_evidence": [{"kind": "attachment", "name": "screenshot"}, {"kind": "text", "name": "link"}],
            "approvals": {"min": 1, "roles": ["DRI"]},
        },
    ],
}


def test_a_chosen_file_and_typed_text_survive_a_live_update(page, console, infra: Infra, org: str, tmp_path) -> None:
    """Someone else acting on the run re-renders the page; what this operator chose but did not send stays."""
    requester = infra.token(org, user_id="rita", roles=["runner"])
    run_id = start_real_run(console, requester, EVIDENCE_RUNBOOK)
    with httpx.Client(base_url=console.backend("runbook-runtime"), timeout=30) as client:
        page.sign_in(infra.token(org, user_id="alice", roles=["runner", "DRI"]), f"runs/{run_id}")
        page.ready("runs")
        page.wait(lambda b: page.attr("[data-test=live]", "data-live") not in (None, "connecting"))
        shot = tmp_path / "proof.png"
        shot.write_bytes(b"\x89PNG proof " * 50)
        page.type("[data-test=file-screenshot]", str(shot))
        page.type("[data-test=evidence-link]", "https://dash.example/half")

        # bob approves through the API: the page follows the run and draws itself again.
        bob = infra.token(org, user_id="bob", roles=["approver", "DRI"])
        r = client.post(f"/v1/runs/{run_id}/approvals", json={}, headers={"Authorization": f"Bearer {bob}"})
        assert r.status_code == 200, r.text
        page.wait(lambda b: "name: bob" in page.text("[data-test=trace]"))

    assert page.attr("[data-test=evidence-link]", "value") == "https://dash.example/half"
    page.click("[data-test=submit-screenshot]")  # the file chosen before the update is the one sent
    sha = page.text("[data-attachment=screenshot] [data-test=sha256]")
    assert sha == hashlib.sha256(shot.read_bytes()).hexdigest()
