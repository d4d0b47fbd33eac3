"""recommendation-agent for tests: the service itself, and publishing as it allows (a version goes active only
after a review by someone other than its author)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from playbooks_dev.testing import Infra, running_service
from playbooks_platform.service import Runtime


@contextlib.asynccontextmanager
async def agent_service(
    infra: Infra, folder: Path, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The agent with its vector index and embedding cache in ``folder``, the library not indexed at start
    (these tests publish what they search), and ``settings`` over the defaults: (client, runtime)."""
    async with running_service(
        "recommendation-agent",
        infra,
        index_path=folder / "edge",
        embedding_cache_path=folder / "embeddings",
        index_library_on_start=False,
        **settings,
    ) as (client, runtime, _app):
        yield client, runtime


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
