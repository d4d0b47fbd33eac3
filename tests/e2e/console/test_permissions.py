"""The console shows each person only what their roles let them do (GET /whoami), and a 403's reason."""

from __future__ import annotations

import httpx

from playbooks_platform.testing import Infra

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
        page.find("[data-test=review-id]").send_keys("ana-weekend-stop")
        page.find("[data-test=review-version]").send_keys("1.0.0")
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


def test_run_controls_follow_the_permissions(page, console, infra: Infra, org: str) -> None:
    console.backend("runbook-runtime")

    def start_controls(*roles: str) -> tuple[bool, list[str]]:
        page.sign_in(infra.token(org, user_id="u", roles=list(roles)), "runs")
        page.ready("runs")
        modes = [o.get_attribute("value") for o in page.all("[data-test=mode] option")]
        return bool(page.all("[data-test=start]")), modes

    assert start_controls("viewer") == (False, [])
    assert start_controls("operator") == (True, ["dry-run"])  # real runs need 'run'
    assert start_controls("runner") == (True, ["real", "dry-run"])
