"""Every route that takes a TenantSession checks its caller's permission first.

FastAPI resolves a route's dependencies in the order of its parameters: a permission declared after
the session would open (and roll back) a transaction for a caller it then refuses, and answer 503
instead of 403 while the database is away.
"""

from __future__ import annotations

import pytest

from playbooks_platform.dependencies import tenant_session
from playbooks_platform.permissions import PermissionChecker, api_routes
from playbooks_platform.service import create_app, installed_services, load_spec


@pytest.mark.parametrize("service", installed_services())
def test_permission_before_tenant_session(service: str) -> None:
    app = create_app(load_spec(service))  # no lifespan: nothing is started
    checked = 0
    for route in api_routes(app):
        calls = [d.call for d in route.original_route.dependant.dependencies]
        if tenant_session not in calls:
            continue
        checkers = [i for i, call in enumerate(calls) if isinstance(call, PermissionChecker)]
        assert checkers, f"{route.path_format} takes a TenantSession without declaring a permission"
        assert checkers[0] < calls.index(tenant_session), f"{route.path_format}: the permission comes after the session"
        checked += 1
    if service in ("condition-engine", "exception-playbook", "runbook-runtime", "recommendation-agent"):
        assert checked, f"{service} has no route on TenantSession"
