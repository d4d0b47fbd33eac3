"""The goals page against the real services, each its own process: words -> the chosen runbook and the values read
from them -> the one missing parameter asked -> the dry-run plan -> confirm. A real run is what the page confirms;
the org has not let automation start real runs, so the goal ends failed with the runtime's reason, shown as is."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from goal_support import GOAL_TEXT, RDS_RUNBOOK, publish_runnable  # tests/ is on sys.path (no __init__.py)

from playbooks_dev.testing import Infra
from playbooks_platform.db import Database

AGENT = "recommendation-agent"


@pytest.fixture
def runnable(console, infra: Infra, org: str) -> str:
    """A reviewed RDS runbook the org published (both services hold it); returns its playbook id."""
    if AGENT not in console.services:
        pytest.skip(f"{AGENT} is not installed: goals live there")

    async def publish() -> str:
        db = Database(infra.database_url, pool_size=1)
        try:
            async with httpx.AsyncClient(base_url=console.backend(AGENT), timeout=60) as agent:
                pid, _version = await publish_runnable(agent, infra, org, RDS_RUNBOOK, runtime_db=db)
        finally:
            await db.dispose()
        return pid

    return asyncio.run(publish())


def test_a_goal_in_words_is_asked_planned_and_confirmed(page, runnable: str, infra: Infra, org: str, screenshot):
    page.sign_in(infra.token(org, user_id="olga", roles=["runner"]), "goals")
    page.ready("goals")
    page.type("[data-test=goal-text]", GOAL_TEXT)
    page.click("[data-test=goal-start]")

    # The chosen runbook, the values read from the words with where each came from, the one question left.
    assert runnable in page.text("[data-test=goal-playbook]")
    values = page.text("[data-test=goal-parameters]")
    assert "production" in values and "intent" in values and "orders-db" in values and "words" in values
    assert page.attr("[data-test=answer-region]", "value") in ("us-east-1", "eu-west-1")  # a select of the allowed
    page.type("[data-test=answer-region]", "eu-west-1")
    page.click("[data-test=goal-answer]")

    # Planned by a dry-run in runbook-runtime: the plan names the real commands, with the answered region.
    plan = page.text("[data-test=goal-plan]")
    assert "stop-db-instance" in plan and "eu-west-1" in plan and "orders-db" in plan
    screenshot("goal-planned")
    page.click("[data-test=goal-confirm]")

    # The org keeps real runs for people: the runtime refuses, the goal fails and says why.
    page.wait(lambda b: "failed" in b.find_element("css selector", "[data-test=goal] h1").text)
    reason = page.text("[data-test=goal-reason]")
    assert "real" in reason.lower(), reason
    page.browser.get(page.console.url + "/#/goals")
    page.ready("goals")
    assert GOAL_TEXT in page.text("[data-test=goals]")


def test_a_viewer_sees_goals_but_cannot_start_one(page, infra: Infra, org: str) -> None:
    page.sign_in(infra.token(org, user_id="vic", roles=["viewer"]), "goals")
    page.ready("goals")
    assert not page.all("[data-test=goal-start]")
    assert "may read goals" in page.text("#view")
