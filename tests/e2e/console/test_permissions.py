"""The console shows each person only what their roles let them do (GET /whoami), and a 403's reason."""

from __future__ import annotations

import copy
import json

import httpx

from playbooks_dev.testing import Infra

from .test_search_page import QUERY, search, tenant_doc


def test_playbook_controls_follow_the_permissions(page, console, infra: Infra, org: str) -> None:
    base = console.backend("condition-engine")
    with httpx.Client(base_url=base, headers=infra.auth(org), timeout=30) as client:
        r = client.post("/api/playbook-templates/contract-signed-renewal-reminder/playbooks", json={})
        assert r.status_code == 201, r.text

    def controls(*roles: str) -> set[str]:
        page.sign_in(infra.token(org, user_id="u", roles=list(roles)), "playbooks")
        page.ready("playbooks")
        page.find("[data-test=playbooks] [data-playbook]")
        page.find("[data-test=templates] [data-template]")
        buttons = page.all("[data-test=playbooks] button, [data-test=templates] button")
        return {e.get_attribute("data-test") for e in buttons}

    assert controls("viewer") == set()  # reads everything, changes nothing
    assert controls("author") == {"use-template"}
    assert controls("operator") == {"dry-run", "toggle"}
    assert controls("admin") == {"use-template", "dry-run", "toggle"}


def test_review_controls_and_a_refusal_shown(page, console, infra: Infra, org: str) -> None:
    agent = console.backend("recommendation-agent")
    ana = infra.token(org, user_id="ana", roles=["author", "reviewer"])
    with httpx.Client(base_url=agent, headers={"Authorization": f"Bearer {ana}"}, timeout=60) as client:
        r = client.post("/api/playbook/metadata/publish", json=tenant_doc("ana-weekend-stop", "Ana's weekend stop"))
        assert r.status_code == 201, r.text

    def open_version(token: str) -> str:
        page.sign_in(token, "search")
        page.ready("search")
        page.type("[data-test=review-id]", "ana-weekend-stop")
        page.type("[data-test=review-version]", "1.0.0")
        page.find("[data-test=open-version]").click()
        return page.text("[data-test=version] [data-test=review]")

    # A viewer sees it waits for review, and no button to review it.
    shown = open_version(infra.token(org, user_id="vera", roles=["viewer"]))
    assert "someone whose role grants 'review'" in shown
    assert not page.all("[data-test=version] [data-test=approve], [data-test=version] [data-test=reject]")
    # Its author, reviewer or not, is told someone else approves it.
    shown = open_version(ana)
    assert "someone else approves it (four eyes)" in shown
    assert not page.all("[data-test=version] [data-test=approve]")

    # In the search results the author is not known to the page: the API's refusal is shown as it says it.
    search(page, QUERY)
    card = page.find("[data-test=results] [data-playbook=ana-weekend-stop]")
    card.find_element("css selector", "[data-test=approve]").click()
    refusal = page.text("#flash [data-test=error]")
    assert refusal.startswith("Not allowed:") and "four eyes" in refusal


OWN_RUNBOOK = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "gate", "governance": {"allowed_commands": ["echo"]}},
    "steps": [{"id": "gate", "type": "manual", "title": "Decide", "approvals": {"min": 1, "roles": ["DRI"]}}],
}


def test_run_controls_follow_the_permissions(page, console, infra: Infra, org: str) -> None:
    console.backend("runbook-runtime")

    def start_controls(*roles: str) -> set[str]:
        page.sign_in(infra.token(org, user_id="u", roles=list(roles)), "catalog")
        page.ready("catalog")
        page.type("[data-test=own-runbook]", json.dumps(OWN_RUNBOOK))
        page.click("[data-test=open-own]")
        page.find("[data-test=run-form]")
        return {e.get_attribute("data-test") for e in page.all("[data-test=run-form] button")}

    assert start_controls("viewer") == set()
    assert page.all("[data-test=read-only]")
    assert start_controls("operator") == {"start-dry-run", "start-replay"}  # real runs need 'run'
    assert start_controls("runner") == {"start-dry-run", "start-replay", "start-real"}


def test_a_viewer_sees_no_run_action_and_a_forged_one_is_refused(page, console, infra: Infra, org: str) -> None:
    base = console.backend("runbook-runtime")
    rita = {"Authorization": f"Bearer {infra.token(org, user_id='rita', roles=['runner'])}"}
    viewer_token = infra.token(org, user_id="vera", roles=["viewer"])
    viewer = {"Authorization": f"Bearer {viewer_token}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/v1/runs", json={"runbook": OWN_RUNBOOK, "mode": "real", "start": True}, headers=rita)
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]

        page.sign_in(viewer_token, f"runs/{run_id}")
        page.ready("runs")
        page.find("[data-test=steps] li.current")
        assert not page.all("[data-test=run] button")  # no approve, reject, evidence, next or cancel
        assert "someone whose role grants 'approve'" in page.text("[data-test=needs-approver]")

        # The same actions forged with the viewer's token: each refused, the run untouched.
        for path, body in (
            (f"/v1/runs/{run_id}/approvals", {}),
            (f"/v1/runs/{run_id}/reject", {"reason": "forged"}),
            (f"/v1/runs/{run_id}/cancel", {}),
            (f"/v1/runs/{run_id}/next", None),
            (f"/v1/runs/{run_id}/evidence", {"name": "x", "value": "y"}),
            ("/v1/runs", {"runbook": OWN_RUNBOOK, "mode": "dry-run"}),
        ):
            r = client.post(path, json=body, headers=viewer)
            assert r.status_code == 403, (path, r.status_code, r.text)
        assert client.get(f"/v1/runs/{run_id}", headers=rita).json()["status"] == "waiting"


def test_a_runbook_description_is_text_never_markup(page, console, infra: Infra, org: str) -> None:
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'
    runbook = copy.deepcopy(OWN_RUNBOOK)
    runbook["meta"]["description"] = hostile
    runbook["meta"]["vars"] = {"target": {"default": "a", "description": hostile, "allowed": ["a", hostile]}}
    runbook["steps"][0]["title"] = hostile
    page.sign_in(infra.token(org, user_id="u", roles=["operator"]), "catalog")
    page.ready("catalog")
    page.type("[data-test=own-runbook]", json.dumps(runbook))
    page.click("[data-test=open-own]")
    assert page.text("[data-field=target] [data-test=var-description]") == hostile  # shown as the text it is
    assert page.text("[data-test=runbook-description]") == hostile
    assert not page.all("main img, main b, main script")  # nothing of it became an element
    assert page.browser.execute_script("return window.__xss") is None
