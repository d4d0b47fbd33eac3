"""Step completions across orgs, now that playbook versions are cached process-wide.

Another org's caller who knows an exception id and its playbook id gets 404 and learns nothing, even
when that playbook's steps are cached in the process. (Racing completions of one step: exactly one
wins, in tests/integration/exception_playbook/test_exception_api.py.)
"""

from __future__ import annotations

import uuid

import pytest

from exception_playbook.playbook_shapes import shape_of
from playbooks_dev.testing import Infra, running_service
from playbooks_platform.errors import NotFound

STEPS = [{"name": f"s{i}", "action_type": "add_comment", "params": {"text_template": "c ${id}"}} for i in range(3)]


async def _exception_with_playbook(client, headers) -> tuple[str, str]:
    body = {"name": "pb", "conditions": {"match": {"domain": "Tenancy"}, "priority": 1}, "steps": STEPS}
    assert (await client.post("/api/playbooks", json=body, headers=headers)).status_code == 201
    r = await client.post(
        "/api/exceptions", json={"domain": "Tenancy", "exception_type": "T", "severity": "high"}, headers=headers
    )
    assert r.status_code == 201, r.text
    view = (await client.get(f"/api/exceptions/{r.json()['id']}/playbook", headers=headers)).json()
    return r.json()["id"], view["playbook_id"]


async def test_other_org_cannot_complete_or_read_a_cached_playbook(infra: Infra, org: str) -> None:
    other = f"{org}-other"
    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        exception_id, playbook_id = await _exception_with_playbook(client, infra.auth(org))
        r = await client.post(
            f"/api/exceptions/{exception_id}/playbook/steps/1/complete", json={}, headers=infra.auth(org)
        )
        assert r.status_code == 200, r.text  # the playbook's shape is now cached in this process

        r = await client.post(
            f"/api/exceptions/{exception_id}/playbook/steps/2/complete", json={}, headers=infra.auth(other)
        )
        assert r.status_code == 404, r.text
        async with runtime.database.tenant_transaction(other) as session:
            with pytest.raises(NotFound):
                await shape_of(session, other, uuid.UUID(playbook_id))

        view = (await client.get(f"/api/exceptions/{exception_id}/playbook", headers=infra.auth(org))).json()
        assert view["current_step"] == 2
