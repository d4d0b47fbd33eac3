"""Runs per day (GET .../insights/daily): another org's runs are never counted, whatever the caller
names; a window or filter outside what the route takes is a 422 naming it, never a query of its own."""

from __future__ import annotations

import uuid

import pytest

from playbooks_dev.testing import Infra, running_service

ROUTES = {"condition-engine": "/api/insights/daily", "runbook-runtime": "/v1/insights/daily"}


@pytest.mark.parametrize("service", sorted(ROUTES))
async def test_daily_counts_refuse_what_they_do_not_take(infra: Infra, org: str, service: str) -> None:
    path = ROUTES[service]
    async with running_service(service, infra) as (client, _runtime, _app):
        auth = infra.auth(org, roles=["viewer"])
        for window in ("1y", "7d'; DROP TABLE runs; --", "-1d", ""):
            r = await client.get(path, params={"window": window}, headers=auth)
            assert r.status_code == 422, (window, r.text)
            assert "window" in r.text
        name = "playbook" if service == "condition-engine" else "runbook"
        r = await client.get(path, params={name: "x" * 201}, headers=auth)
        assert r.status_code == 422 and name in r.text
        assert (await client.get(path)).status_code == 401
        # a filter naming something of another org (or nothing) counts nothing, and says so as zeros
        injected = await client.get(path, params={name: "' OR 1=1 --", "window": "30d"}, headers=auth)
        nothing = str(uuid.uuid4()) if service == "condition-engine" else "' OR 1=1 --"
        if service == "condition-engine":  # playbook ids are UUIDs: anything else is refused up front
            assert injected.status_code == 422 and "playbook" in injected.text
        r = await client.get(path, params={name: nothing, "window": "30d"}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 0 and len(r.json()["days"]) == 30
