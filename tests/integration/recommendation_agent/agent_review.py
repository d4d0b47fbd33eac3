"""Publishing as the service allows: a version goes active only after a review by someone other than its author."""

from __future__ import annotations

import copy
from typing import Any

from playbooks_platform.testing import Infra

# Four eyes: versions are published by the default test user and approved by someone else.
REVIEWER = {"user_id": "rita", "roles": ["reviewer"]}


async def publish_doc(client, infra: Infra, org: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Publish as the author; a document meant to be ``active`` goes there the only way there is: a review."""
    target = doc["metadata"]["status"]
    if target == "active":
        doc = copy.deepcopy(doc)
        doc["metadata"]["status"] = "pending_review"
    r = await client.post("/api/playbook/metadata/publish", json=doc, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    if target != "active":
        return r.json()
    meta = doc["metadata"]
    url = f"/api/playbook/metadata/{org}/{meta['playbook_id']}/{meta['version']}/status"
    r = await client.post(url, json={"status": "approved"}, headers=infra.auth(org, **REVIEWER))
    assert r.status_code == 200, r.text
    r = await client.post(url, json={"status": "active"}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return r.json()
