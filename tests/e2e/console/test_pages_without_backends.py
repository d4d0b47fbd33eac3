"""Every page, with its backend down, says which service failed and how: never a blank page."""

from __future__ import annotations

import pytest

from playbooks_platform.testing import Infra


@pytest.mark.parametrize(
    ("page_path", "service", "sections"),
    [
        ("playbooks", "condition-engine", 3),  # playbooks, recent runs and insights each say so
        ("exceptions/exc-1", "exception-playbook", 1),
        ("runs", "runbook-runtime", 1),
    ],
)
def test_a_down_backend_is_named_on_the_page(
    page, dead_console, infra: Infra, org: str, page_path: str, service: str, sections: int
) -> None:
    page.console = dead_console
    page.sign_in(infra.token(org), page_path)
    page.wait(lambda b: len(page.all("[data-test=error]")) >= sections)
    errors = [e.text for e in page.all("[data-test=error]")]
    assert all(f"{service} is unreachable" in e for e in errors), errors


def test_search_with_its_backend_down(page, dead_console, infra: Infra, org: str) -> None:
    page.console = dead_console
    page.sign_in(infra.token(org), "search")
    page.find("[data-test=query]").send_keys("stop idle dev instances over the weekend")
    page.find("[data-test=search]").click()
    assert "recommendation-agent is unreachable" in page.text("[data-test=results] [data-test=error]")
