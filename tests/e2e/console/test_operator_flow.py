"""The operator's day in the browser: catalog -> form -> dry-run -> real run -> live updates -> evidence ->
approve; reject; cancel; the step timeline. Real recommendation-agent and runbook-runtime behind the page.

runbook-runtime may or may not have its event stream (GET /v1/runs/{id}/events): the page follows the run
either way, by the stream or by polling, and says which (``[data-test=live]``).
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from playbooks_dev.testing import Infra

RUNBOOK: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {
        "name": "restart-cache",
        "version": "2",
        "description": "Restart the cache tier after checking it, with a human confirmation in between.",
        "vars": {
            "service": {"default": "cache", "description": "Which tier to restart", "allowed": ["cache", "queue"]},
            "ticket": {"description": "The change ticket this restart belongs to"},
            "api_key": {"default": "k-123-very-secret", "secret": True, "description": "The admin API key"},
        },
        "governance": {"allowed_commands": ["echo"]},
    },
    "steps": [
        {
            "id": "check",
            "type": "cli",
            "with": {"argv": ["echo", "restarting {{ .service }} for {{ .ticket }}"]},
            "capture": {"said": "stdout"},
            "assertions": [{"contains": "restarting"}],
        },
        {
            "id": "confirm",
            "type": "manual",
            "title": "Confirm the dashboard is green",
            "instructions": "Open the cache dashboard and check it.",
            "required_evidence": [
                {"kind": "text", "name": "link"},
                {"kind": "checklist", "name": "checks", "items": ["dashboard green", "no alerts"]},
                {"kind": "attachment", "name": "screenshot"},
            ],
            "approvals": {"min": 1, "roles": ["DRI"]},
        },
        {"id": "done", "type": "cli", "with": {"argv": ["echo", "done"]}},
    ],
}
MANUAL_ONLY: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "gate-only", "governance": {"allowed_commands": ["echo"]}},
    "steps": [
        {"id": "gate", "type": "manual", "title": "Decide", "approvals": {"min": 1, "roles": ["DRI"]}},
        {"id": "after", "type": "cli", "with": {"argv": ["echo", "after"]}},
    ],
}


def publish_compiled(console, infra: Infra, org: str, playbook_id: str, runbook: dict[str, Any]) -> None:
    """The compiled runbook as recommendation-agent keeps it (the worker's own mapping), approved by a reviewer."""
    from playbooks_contracts.messages import RunbookCompiled
    from recommendation_agent.worker import runbook_document

    # A playbook document keeps no secret default (everyone in the org reads it): the form asks for it.
    runbook = copy.deepcopy(runbook)
    for spec in runbook["meta"]["vars"].values():
        if spec.get("secret"):
            spec.pop("default", None)
    compiled = RunbookCompiled(
        playbook_id=playbook_id,
        version="1.0.0",
        name="Restart the cache tier",
        description=runbook["meta"]["description"],
        runbook=runbook,
        source_name="cache-restart.md",
    )
    document = runbook_document(compiled).model_dump(mode="json", exclude_none=True, by_alias=True)
    base = console.backend("recommendation-agent")
    author = {"Authorization": f"Bearer {infra.token(org, user_id='paula', roles=['author'])}"}
    reviewer = {"Authorization": f"Bearer {infra.token(org, user_id='rev', roles=['reviewer'])}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/api/playbook/metadata/publish", json=document, headers=author)
        assert r.status_code == 201, r.text
        r = client.post(
            f"/api/playbook/metadata/{org}/{playbook_id}/1.0.0/status", json={"status": "approved"}, headers=reviewer
        )
        assert r.status_code == 200, r.text


def start_via_api(console, token: str, runbook: dict[str, Any], **body: Any) -> str:
    with httpx.Client(base_url=console.backend("runbook-runtime"), timeout=30) as client:
        r = client.post(
            "/v1/runs",
            json={"runbook": runbook, "mode": "real", "start": True} | body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["run_id"])


def following(page) -> None:
    """The run page is open and follows its run (by the stream, or by polling when there is none)."""
    page.ready("runs")
    page.wait(lambda b: page.attr("[data-test=live]", "data-live") not in (None, "connecting"))


def test_catalog_form_dry_run_live_run_evidence_and_approval(
    page, console, infra: Infra, org: str, screenshot, tmp_path: Path
) -> None:
    publish_compiled(console, infra, org, "cache-restart", RUNBOOK)
    alice = infra.token(org, user_id="alice", roles=["runner", "approver", "DRI"])
    bob = infra.token(org, user_id="bob", roles=["runner", "approver", "DRI"])

    # The catalog finds the org's runbook by search; choosing it shows description, steps, governance, form.
    page.sign_in(alice, "catalog")
    page.ready("catalog")
    page.type("[data-test=catalog-query]", "restart the cache tier")
    page.find("[data-test=catalog-search]").click()
    page.find("[data-org-playbook=cache-restart] [data-test=choose]").click()
    page.ready("catalog")
    assert "Restart the cache tier after checking it" in page.text("[data-test=runbook-description]")
    shown = [e.get_attribute("data-step") for e in page.all("[data-test=runbook-steps] li")]
    assert shown == ["check", "confirm", "done"]
    assert "echo" in page.text("[data-test=governance]")
    service = page.find("[data-var=service]")
    assert service.tag_name == "select"
    assert [o.get_attribute("value") for o in service.find_elements("css selector", "option")] == ["cache", "queue"]
    assert page.find("[data-var=api_key]").get_attribute("type") == "password"
    assert page.find("[data-var=api_key]").get_attribute("value") == ""
    for asked in ("ticket", "api_key"):  # no default: asked for
        assert page.find(f"[data-var={asked}]").get_attribute("required") is not None
    assert "The change ticket" in page.text("[data-field=ticket]")
    screenshot("catalog-form")

    # A dry-run with a missing required var is stopped in the page; then the plan is shown.
    page.find("[data-test=start-dry-run]").click()
    assert "required" in page.text("#flash [data-test=error]").lower()
    page.type("[data-var=ticket]", "CHG-42")
    page.type("[data-var=api_key]", "k-123-very-secret")
    page.find("[data-test=start-dry-run]").click()
    plan = page.text("[data-test=plan]")
    assert "echo restarting cache for CHG-42" in plan and "waits for" in plan

    # The real run: the run page follows it live.
    page.click("[data-test=start-real]")
    page.ready("runs")
    page.wait(lambda b: page.attr("[data-test=steps] li.current", "data-step") == "confirm")
    run_id = page.attr("[data-test=run]", "data-run")
    assert page.attr("[data-test=steps] [data-step=check]", "data-status") == "passed"
    assert "live" in page.text("[data-test=live]")
    assert "Open the cache dashboard" in page.text("[data-test=instructions]")
    # The requester is told someone else approves (four eyes): no Approve button for alice.
    assert page.all("[data-test=own-run]") and not page.all("[data-test=approve]")

    # Evidence: text, a checklist ticked, an attachment whose sha256 the service computed is shown.
    page.type("[data-test=evidence-link]", "https://dash.example/cache")
    page.click("[data-test=submit-link]")
    page.wait(lambda b: not page.all("[data-test=evidence-link]"))
    for item in ("dashboard green", "no alerts"):
        page.click(f"[data-test=check-checks][value='{item}']")
    page.click("[data-test=submit-checks]")
    page.wait(lambda b: not page.all("[data-test=check-checks]"))
    shot = tmp_path / "dashboard.png"
    shot.write_bytes(b"\x89PNG fake dashboard screenshot " * 40)
    page.type("[data-test=file-screenshot]", str(shot))
    page.click("[data-test=submit-screenshot]")
    sha = page.text("[data-attachment=screenshot] [data-test=sha256]")
    assert sha == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert "matches the file sent" in page.text("[data-attachment=screenshot]")
    screenshot("run-evidence")

    # bob approves in his browser; alice's next step via the API shows up on bob's page by itself.
    page.sign_in(bob, f"runs/{run_id}")
    following(page)
    page.click("[data-test=approve]")
    page.wait(lambda b: not page.all("[data-test=approve]"))
    with httpx.Client(base_url=console.backend("runbook-runtime"), timeout=30) as client:
        r = client.post(f"/v1/runs/{run_id}/continue", headers={"Authorization": f"Bearer {alice}"})
        assert r.status_code == 200, r.text
        assert r.json()["run"]["status"] == "passed"
    page.wait(lambda b: page.text("[data-test=run-status]") == "passed")  # no reload, no click
    assert page.attr("[data-test=steps] [data-step=done]", "data-status") == "passed"
    assert "human" in page.text("[data-test=steps] [data-step=confirm]")

    # The timeline: one lane per step, the manual one with the time it waited for people.
    lanes = {e.get_attribute("data-step"): e for e in page.all("[data-test=step-timeline] g.lane")}
    assert list(lanes) == ["check", "confirm", "done"]
    assert all(lane.get_attribute("data-status") == "passed" for lane in lanes.values())
    assert int(lanes["confirm"].get_attribute("data-waited-ms")) > 0
    assert lanes["check"].get_attribute("data-attempts") == "1"
    assert lanes["confirm"].find_elements("css selector", "[data-test=wait]")
    # The captured output (redacted, bounded) is there per step; the secret never is.
    assert "restarting cache for CHG-42" in page.attr("[data-step=check] [data-test=step-output]", "textContent")
    assert "k-123-very-secret" not in page.browser.page_source
    screenshot("run-timeline")


def test_reject_with_a_reason(page, console, infra: Infra, org: str, screenshot) -> None:
    run_id = start_via_api(console, infra.token(org, user_id="rita", roles=["runner"]), MANUAL_ONLY)
    page.sign_in(infra.token(org, user_id="bob", roles=["approver", "DRI"]), f"runs/{run_id}")
    following(page)
    page.click("[data-test=reject]")  # no reason: refused in the page
    assert "needs a reason" in page.text("#flash [data-test=error]")
    page.type("[data-test=reject-reason]", "not during the freeze")
    page.click("[data-test=reject]")
    page.wait(lambda b: page.text("[data-test=run-status]") == "rejected")
    assert "rejected by bob: not during the freeze" in page.text("[data-test=end-reason]")
    assert not page.all("[data-test=approve], [data-test=reject], [data-test=cancel]")
    screenshot("run-rejected")


def test_cancel_asks_first(page, console, infra: Infra, org: str) -> None:
    run_id = start_via_api(console, infra.token(org, user_id="rita", roles=["runner"]), MANUAL_ONLY)
    page.sign_in(infra.token(org, user_id="carl", roles=["runner"]), f"runs/{run_id}")
    following(page)
    page.click("[data-test=cancel]")
    page.click("[data-test=keep-run]")  # changed their mind: nothing happens
    assert not page.all("[data-test=cancel-confirm]")
    assert page.text("[data-test=run-status]") == "waiting"
    page.click("[data-test=cancel]")
    page.type("[data-test=cancel-reason]", "wrong cluster")
    page.click("[data-test=confirm-cancel]")
    page.wait(lambda b: page.text("[data-test=run-status]") == "cancelled")
    assert "cancelled by carl: wrong cluster" in page.text("[data-test=end-reason]")


def test_runs_list_filters_pages_and_counts(page, console, infra: Infra, org: str) -> None:
    rita = infra.token(org, user_id="rita", roles=["runner"])
    waiting = [start_via_api(console, rita, MANUAL_ONLY) for _ in range(2)]
    planned = start_via_api(console, rita, MANUAL_ONLY, mode="dry-run", start=False)
    page.sign_in(rita, "runs")
    page.ready("runs")
    page.wait(lambda b: len(page.all("[data-test=runs] [data-run]")) == 3)
    assert page.text("[data-test=runs-count]") in ("3 runs", "3 shown")
    page.click("[data-test=filter-status] option[value=waiting]")
    page.wait(lambda b: {e.get_attribute("data-run") for e in page.all("[data-test=runs] [data-run]")} == set(waiting))
    assert page.text("[data-test=runs-count]") == "2 runs"
    page.click("[data-test=filter-status] option[value=planned]")
    page.wait(lambda b: [e.get_attribute("data-run") for e in page.all("[data-test=runs] [data-run]")] == [planned])


@pytest.mark.parametrize("source", ["runbooks", "playbooks"])
def test_insights_chart_counts_runs_per_day(page, console, infra: Infra, org: str, source: str, screenshot) -> None:
    rita = infra.token(org, user_id="rita", roles=["runner"])
    if source == "runbooks":
        start_via_api(console, rita, MANUAL_ONLY)
        start_via_api(console, rita, MANUAL_ONLY, mode="dry-run", start=False)
    page.sign_in(rita, "insights")
    page.ready("insights")
    page.click(f"[data-test=insights-source] option[value={source}]")
    page.click("[data-test=insights-days] option[value='30']")
    page.wait(lambda b: len(page.all("[data-test=day-chart] [data-day]")) == 30)
    days = page.all("[data-test=day-chart] [data-day]")
    totals = [int(d.get_attribute("data-total")) for d in days]
    expected = 2 if source == "runbooks" else 0
    assert sum(totals) == expected and totals[-1] == expected  # both runs are today's, the newest day
    assert page.text("[data-test=insights-total]") == str(expected)
    if source == "runbooks":
        statuses = {r.get_attribute("data-status") for r in days[-1].find_elements("css selector", "rect")}
        assert statuses == {"waiting", "planned"}
        screenshot("insights")


def test_the_page_follows_the_event_stream_when_the_runtime_has_one(page, console, infra: Infra, org: str) -> None:
    rita = infra.token(org, user_id="rita", roles=["runner"])
    bob = {"Authorization": f"Bearer {infra.token(org, user_id='bob', roles=['runner', 'approver', 'DRI'])}"}
    run_id = start_via_api(console, rita, MANUAL_ONLY)
    base = console.backend("runbook-runtime")
    with httpx.Client(base_url=base, timeout=10) as client:
        with client.stream("GET", f"/v1/runs/{run_id}/events", headers=bob) as probe:
            if probe.status_code in (404, 405):
                pytest.skip("this runbook-runtime has no GET /v1/runs/{id}/events yet: polling is tested above")
            assert probe.status_code == 200 and probe.headers["content-type"].startswith("text/event-stream")

        page.sign_in(rita, f"runs/{run_id}")
        following(page)
        page.wait(lambda b: page.attr("[data-test=live]", "data-live") == "stream")
        assert client.post(f"/v1/runs/{run_id}/approvals", json={}, headers=bob).status_code == 200
        assert client.post(f"/v1/runs/{run_id}/continue", headers=bob).status_code == 200
        page.wait(lambda b: page.text("[data-test=run-status]") == "passed")
        # Every trace record, in order, once: what the page shows is what GET /trace returns.
        trace = client.get(f"/v1/runs/{run_id}/trace", headers=bob).json()
    page.wait(lambda b: len(page.all("[data-test=trace] li")) == len(trace))
    shown = [li.get_attribute("data-event") for li in page.all("[data-test=trace] li")]
    assert shown == [record["event"] for record in trace]


def publish_to_runtime(console, infra: Infra, org: str, runbook_id: str, version: str, runbook: dict[str, Any]) -> None:
    """Publish as the compiler does (runbooks.compiled.v1), and wait until runbook-runtime lists it."""
    import asyncio

    from playbooks_contracts import Envelope
    from playbooks_contracts.topics import RUNBOOKS_COMPILED
    from playbooks_dev.testing import eventually, produce

    data = {"playbook_id": runbook_id, "version": version, "name": runbook["meta"]["name"], "runbook": runbook}
    env = Envelope(type="runbook.compiled", org_id=org, source="compiler", data=data)
    auth = {"Authorization": f"Bearer {infra.token(org)}"}

    async def published() -> None:
        await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")], key=org)

        async def listed() -> bool:
            async with httpx.AsyncClient(base_url=console.backend("runbook-runtime"), timeout=30) as client:
                r = await client.get(f"/v1/runbooks/{runbook_id}/{version}", headers=auth)
                return r.status_code == 200

        await eventually(listed)

    asyncio.run(published())


def test_catalog_starts_a_published_runbook_by_id_and_a_run_says_what_it_waits_for(
    page, console, infra: Infra, org: str
) -> None:
    publish_to_runtime(console, infra, org, "cache-restart-rb", "7", RUNBOOK)
    alice = infra.token(org, user_id="alice", roles=["runner", "approver", "DRI"])
    page.sign_in(alice, "catalog")
    page.ready("catalog")
    row = "[data-compiled='cache-restart-rb@7']"
    assert "3 steps" in page.text(row) and "ticket" in page.text(row)
    # the service searches the published runbooks (a var's name counts, any case)
    page.type("[data-test=catalog-query]", "kafka")
    page.click("[data-test=catalog-search]")
    page.wait(lambda b: "No published runbook matches" in page.text("[data-test=catalog-compiled]"))
    page.find("[data-test=catalog-query]").clear()
    page.type("[data-test=catalog-query]", "TICKET")
    page.click("[data-test=catalog-search]")
    page.find(f"{row} [data-test=choose-compiled]").click()
    page.ready("catalog")
    assert "published runbook cache-restart-rb v7" in page.text("[data-test=published-ref]")
    assert [e.get_attribute("data-step") for e in page.all("[data-test=runbook-steps] li")] == [
        "check",
        "confirm",
        "done",
    ]
    assert page.find("[data-var=api_key]").get_attribute("type") == "password"
    page.type("[data-var=ticket]", "CHG-77")
    page.find("[data-test=start-dry-run]").click()
    assert "echo restarting cache for CHG-77" in page.text("[data-test=plan]")

    # A run started elsewhere (not from this tab) by id: the page learns the step's evidence from the run.
    run_id = start_via_api(
        console, alice, None, runbook_id="cache-restart-rb", runbook_version="7", vars={"ticket": "CHG-78"}
    )
    page.sign_in(infra.token(org, user_id="bob", roles=["runner", "approver", "DRI"]), f"runs/{run_id}")
    following(page)
    page.wait(lambda b: page.attr("[data-test=steps] li.current", "data-step") == "confirm")
    assert "Open the cache dashboard" in page.text("[data-test=instructions]")
    assert page.text("[data-test=waiting-title]") == "Confirm the dashboard is green"
    assert [e.get_attribute("value") for e in page.all("[data-test=check-checks]")] == ["dashboard green", "no alerts"]
    assert page.all("[data-test=file-screenshot]") and not page.all("[data-test=evidence-screenshot]")
    assert page.all("[data-test=evidence-link]") and not page.all("[data-test=file-link]")
