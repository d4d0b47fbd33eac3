"""Templates page against the real recommendation-agent: clone a protected template, decide proposals, restore
a version, read the audit; a viewer sees no control and a colleague who is not the owner is refused."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from sqlalchemy import insert

from playbooks_dev.testing import Infra
from playbooks_platform.db import Database

AGENT = "recommendation-agent"
TEMPLATE = "aws-rds-stop"


def proposal(infra: Infra, org: str, clone_id: str, summary: str, change: dict) -> str:
    """A proposal as the generator would make it from outcomes (the generator itself is tested in
    tests/integration/recommendation_agent; here the page's part: showing and deciding it)."""
    from recommendation_agent.models import proposals

    pid = str(uuid.uuid4())

    async def write() -> None:
        db = Database(infra.database_url, pool_size=1)
        try:
            async with db.tenant_transaction(org) as session:
                await session.execute(
                    insert(proposals).values(
                        id=pid,
                        org_id=org,
                        playbook_id=clone_id,
                        base_version="1.0.0",
                        kind="new_default",
                        fingerprint=f"page:{pid}",
                        summary=summary,
                        change=change,
                        evidence={"7d": {"runs": 6, "same_override": 0.83}},
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(write())
    return pid


def test_clone_decide_proposals_restore_and_audit(page, console, infra: Infra, org: str, screenshot) -> None:
    if AGENT not in console.services:
        pytest.skip(f"{AGENT} is not installed: templates live there")
    owner = infra.token(org, user_id="olga", roles=["author"])
    page.sign_in(owner, "templates")
    page.ready("templates")
    assert "no clone yet" in page.text("main")
    page.click(f"[data-template={TEMPLATE}] [data-test=clone]")

    # The clone's page: lineage, one version, no proposal yet.
    page.wait(lambda b: "cloned from" in page.text("[data-test=lineage]"))
    assert f"cloned from {TEMPLATE} v1.0.0 by olga" in page.text("[data-test=lineage]")
    clone_id = page.browser.current_url.rsplit("/", 1)[-1]
    assert clone_id.startswith(f"{TEMPLATE}-")
    page.click("[data-test=refresh-proposals]")
    page.wait(lambda b: "0 proposal(s)" in page.text("#flash"))

    # Two proposals: one rejected (a reason is required), one approved (applied as a new version).
    change = {"set": [{"path": ["parameters", "region", "default"], "value": "eu-west-1"}]}
    refused = proposal(infra, org, clone_id, "Default region eu-west-1 (5 of 6 runs override it)", change)
    taken = proposal(infra, org, clone_id, "Default region eu-west-1, again", change)
    page.sign_in(owner, f"templates/{clone_id}")
    page.ready("templates")
    page.click(f"[data-proposal='{refused}'] [data-test=reject-proposal]")
    assert "needs a reason" in page.text("#flash [data-test=error]")
    page.type(f"[data-proposal='{refused}'] [data-test=reject-reason]", "we move regions next month")
    page.click(f"[data-proposal='{refused}'] [data-test=reject-proposal]")
    page.wait(lambda b: "rejected by olga: we move regions next month" in page.text(f"[data-proposal='{refused}']"))
    page.click(f"[data-proposal='{taken}'] [data-test=approve-proposal]")
    page.wait(lambda b: "Applied as version" in page.text("#flash"))
    applied = re.search(r"\(version ([0-9.]+)\)", page.text(f"[data-proposal='{taken}'] [data-test=decision]"))
    assert applied and applied[1] != "1.0.0"
    assert f"{applied[1]} (current)" in page.text("[data-test=versions]")

    # Restore 1.0.0 as a new version; the audit lists every step, newest last.
    page.click("[data-version='1.0.0'] [data-test=restore]")
    page.wait(lambda b: "Version 1.0.0 restored as" in page.text("#flash"))
    actions = [e.get_attribute("data-audit") for e in page.all("[data-test=audit] tr[data-audit]")]
    assert actions[0] == "cloned" and {"proposal_approved", "rolled_back"} <= set(actions), actions
    screenshot("template-clone")

    # The list shows the clone; a viewer sees it without any control; a colleague's decision is refused.
    page.sign_in(infra.token(org, user_id="vic", roles=["viewer"]), "templates")
    page.ready("templates")
    assert page.all(f"[data-clone='{clone_id}']") and not page.all("[data-test=clone]")
    page.browser.get(f"{console.url}/#/templates/{clone_id}")
    page.ready("templates")
    assert not page.all("[data-test=restore], [data-test=refresh-proposals], [data-test=approve-proposal]")
    other = proposal(infra, org, clone_id, "Yet another default", change)
    page.sign_in(infra.token(org, user_id="carl", roles=["author"]), f"templates/{clone_id}")
    page.ready("templates")
    page.click(f"[data-proposal='{other}'] [data-test=approve-proposal]")
    assert "owner" in page.text("#flash [data-test=error]").lower()
