"""Search page against the real recommendation-agent (real MiniLM): ranked results, approve and reject a review."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
import pytest

from playbooks_dev.testing import Infra

QUERY = "stop idle dev EC2 instances over the weekend"


def tenant_doc(playbook_id: str, name: str, base: str = "aws-ec2-stop-idle") -> dict[str, Any]:
    """A tenant playbook derived from a library one, published for review."""
    from recommendation_agent.library import library_by_key

    raw = copy.deepcopy(library_by_key()[(base, "1.0.0")].raw)
    raw["metadata"].update(
        playbook_id=playbook_id,
        version="1.0.0",
        status="pending_review",
        author="user_custom",
        storage_strategy="uploaded_for_review",
        name=name,
        based_on={"playbook_id": base, "version": "1.0.0"},
        created_at=None,
        updated_at=None,
    )
    for fmt in raw["execution_formats"].values():
        if fmt:
            fmt.pop("size_bytes", None)
            fmt.pop("checksum", None)
    raw = {k: v for k, v in raw.items() if v is not None}
    raw["execution_formats"] = {k: v for k, v in raw["execution_formats"].items() if v}
    return raw


@pytest.fixture
def published(console, infra: Infra, org: str) -> str:
    """Two tenant playbooks waiting for review; returns the token of a reviewer of the org."""
    author = infra.token(org, user_id="ana", roles=["author"])
    with httpx.Client(
        base_url=console.backend("recommendation-agent"), headers={"Authorization": f"Bearer {author}"}, timeout=60
    ) as client:
        for pid, name in (
            ("team-ec2-weekend-stop", "Team weekend EC2 stop"),
            ("team-ec2-idle-sweep", "Team idle EC2 sweep"),
        ):
            r = client.post("/api/playbook/metadata/publish", json=tenant_doc(pid, name))
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "pending_review"
    # four eyes: the reviewer is not the author
    return infra.token(org, user_id="rita", roles=["reviewer"])


def cards(page) -> dict[str, Any]:
    return {c.get_attribute("data-playbook"): c for c in page.all("[data-test=results] [data-test=result]")}


def search(page, query: str = QUERY) -> None:
    box = page.find("[data-test=query]")
    box.clear()
    box.send_keys(query)
    page.find("[data-test=search]").click()
    page.find("[data-test=results] [data-test=intent], [data-test=results] [data-test=error]")


def test_search_ranks_results_and_a_review_is_approved(page, published: str, screenshot) -> None:
    page.sign_in(published, "search")
    page.ready("search")
    search(page)

    results = page.all("[data-test=results] [data-test=result]")
    assert len(results) >= 3, page.text("[data-test=results]")
    ranks = [r.find_element("css selector", "[data-test=rank]").text for r in results]
    assert ranks == [f"#{i}" for i in range(1, len(results) + 1)]
    for r in results:
        assert re.fullmatch(r"\d{1,3}%", r.find_element("css selector", "[data-test=confidence]").text)
        assert r.find_element("css selector", "[data-test=reason]").text.strip()
    found = cards(page)
    assert "aws-ec2-stop-idle" in list(found)[:3]  # the library's own playbook for it ranks near the top
    assert {"team-ec2-weekend-stop", "team-ec2-idle-sweep"} <= set(found)
    assert "Understood:" in page.text("[data-test=intent]")

    # The pending one: its explain plan and parameters, and the review buttons.
    pending = cards(page)["team-ec2-weekend-stop"]
    assert pending.get_attribute("data-status") == "pending_review"
    pending.find_element("css selector", "[data-test=explain]").click()
    plan = pending.find_element("css selector", "[data-test=explain-plan]").text
    assert "Steps" in plan and "Risks" in plan and "Impact" in plan and "cost savings monthly usd" in plan
    assert pending.find_elements("css selector", "[data-test=parameters] tr")
    screenshot("search", max_height=1700)  # the first results, the pending one's plan open

    pending.find_element("css selector", "[data-test=approve]").click()
    page.wait(
        lambda b: (
            cards(page).get("team-ec2-weekend-stop") is not None
            and cards(page)["team-ec2-weekend-stop"].get_attribute("data-status") == "approved"
        )
    )
    assert "team-ec2-weekend-stop@1.0.0 is now approved" in page.text("#flash [data-test=note]")
    assert not cards(page)["team-ec2-weekend-stop"].find_elements("css selector", "[data-test=approve]")

    # A rejection asks for a reason before it calls the API, which refuses one without.
    other = cards(page)["team-ec2-idle-sweep"]
    other.find_element("css selector", "[data-test=reject]").click()
    other.find_element("css selector", "[data-test=confirm-reject]").click()
    assert "needs a reason" in page.text("#flash [data-test=error]")
    other.find_element("css selector", "[data-test=reject-reason]").send_keys("the CPU threshold is too aggressive")
    other.find_element("css selector", "[data-test=confirm-reject]").click()
    page.wait(lambda b: "team-ec2-idle-sweep" not in cards(page))  # a rejected version is not searchable
    assert "team-ec2-idle-sweep@1.0.0 is now rejected" in page.text("#flash [data-test=note]")

    # The review lookup shows the version's status and its history, reason included.
    page.type("[data-test=review-id]", "team-ec2-idle-sweep")
    page.type("[data-test=review-version]", "1.0.0")
    page.find("[data-test=open-version]").click()
    version = page.text("[data-test=version]")
    assert "rejected" in version and "the CPU threshold is too aggressive" in version and "by rita" in version


def test_search_marks_weak_results_and_says_when_nothing_matches(page, published: str) -> None:
    page.sign_in(published, "search")
    page.ready("search")
    search(page)
    start = cards(page).get("aws-ec2-start-by-tag")
    assert start is None or start.find_elements("css selector", "[data-test=weak]")  # it starts; the ask is stop
    assert not page.all("[data-test=notice]")
    search(page, "stop idle Oracle Cloud compute instances over the weekend")
    assert "no playbooks for Oracle Cloud" in page.text("[data-test=notice]")
    for card in cards(page).values():
        assert card.find_elements("css selector", "[data-test=weak]")


def test_search_errors_show_the_api_message(page, console, infra: Infra, org: str) -> None:
    console.backend("recommendation-agent")
    page.sign_in(infra.token(org), "search")
    page.ready("search")
    page.type("[data-test=review-id]", "no-such-playbook")
    page.type("[data-test=review-version]", "1.0.0")
    page.find("[data-test=open-version]").click()
    assert "no playbook no-such-playbook@1.0.0" in page.text("[data-test=error]")
