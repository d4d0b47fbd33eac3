"""A list's cursor is ours to write: a forged one (bad base64, no separator, a time without its zone,
a key of the wrong kind) is a 422 saying to start again, never a 500 from the database."""

from __future__ import annotations

import base64

import pytest

from playbooks_dev.testing import Infra, running_service

LISTS = {
    "condition-engine": "/api/playbook-runs",
    "exception-playbook": "/api/exceptions",
    "runbook-runtime": "/v1/runs",
}


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED = [
    "garbage!!",
    b64("no separator here"),
    b64("2026-01-01T00:00:00|00000000-0000-0000-0000-000000000000"),  # no zone: naive against timestamptz
    b64("not a time|x"),
    base64.urlsafe_b64encode(b"\xff\xfe|\xff").decode(),  # not UTF-8
]


@pytest.mark.parametrize("service", sorted(LISTS))
async def test_a_forged_cursor_is_a_422(infra: Infra, org: str, service: str) -> None:
    async with running_service(service, infra) as (client, _runtime, _app):
        for cursor in FORGED:
            r = await client.get(LISTS[service], params={"cursor": cursor}, headers=infra.auth(org))
            assert r.status_code == 422, (cursor, r.text)
            assert "start again without it" in r.json()["detail"], r.text
        # a UUID-keyed list refuses a key that is no UUID up front
        if service != "runbook-runtime":
            r = await client.get(
                LISTS[service], params={"cursor": b64("2026-01-01T00:00:00+00:00|nope")}, headers=infra.auth(org)
            )
            assert r.status_code == 422 and "start again" in r.text
