"""Every page, with its backend down, says which service failed and how: never a blank page."""

from __future__ import annotations

import pytest

from playbooks_dev.testing import Infra


@pytest.mark.parametrize(
    ("page_path", "service", "sections"),
    [
        ("playbooks", "condition-engine", 3),  # playbooks, recent runs and insights each say so
        ("exceptions/exc-1", "exception-playbook", 1),
        ("runs", "runbook-runtime", 1),
        ("runs/run-1", "runbook-runtime", 1),
        # the published runbooks (runbook-runtime), the org's runbooks and the library (recommendation-agent)
        ("catalog?q=restart", ("runbook-runtime", "recommendation-agent"), 3),
        ("insights", "condition-engine", 1),
    ],
)
def test_a_down_backend_is_named_on_the_page(
    page, dead_console, infra: Infra, org: str, page_path: str, service: str, sections: int
) -> None:
    page.console = dead_console
    page.sign_in(infra.token(org), page_path)
    page.wait(lambda b: len(page.all("[data-test=error]")) >= sections)
    errors = [e.text for e in page.all("[data-test=error]")]
    services = (service,) if isinstance(service, str) else service
    assert all(any(f"{s} is unreachable" in e for s in services) for e in errors), errors
    assert all(any(f"{s} is unreachable" in e for e in errors) for s in services), errors


def test_search_with_its_backend_down(page, dead_console, infra: Infra, org: str) -> None:
    page.console = dead_console
    page.sign_in(infra.token(org), "search")
    page.type("[data-test=query]", "stop idle dev instances over the weekend")
    page.find("[data-test=search]").click()
    assert "recommendation-agent is unreachable" in page.text("[data-test=results] [data-test=error]")
