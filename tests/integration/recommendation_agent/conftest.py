"""recommendation-agent against real PostgreSQL, broker, Qdrant Edge on a temporary folder, and the real MiniLM."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from playbooks_dev.testing import Infra, running_service
from recommendation_agent.embeddings import load_minilm
from recommendation_agent.library import library_by_key


@pytest.fixture(scope="session")
async def minilm():
    """The model, loaded once for the whole session (the service reuses the process's instance)."""
    return await asyncio.to_thread(load_minilm)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="session")
async def agent(infra: Infra, minilm, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    index = tmp_path_factory.mktemp("edge")
    async with running_service(
        "recommendation-agent", infra, index_path=index, embedding_cache_path=embedding_cache
    ) as (client, runtime, _app):
        yield client, runtime


@pytest.fixture
def make_doc():
    """Build tenant playbook documents: ``make_doc(playbook_id, version, status, base, **metadata)``."""
    return tenant_doc


def tenant_doc(
    playbook_id: str = "team-weekend-rds",
    version: str = "1.0.0",
    status: str = "active",
    base: str = "aws-rds-stop",
    **meta: Any,
) -> dict[str, Any]:
    """A tenant playbook derived from a library one (its scripts included); ``active`` via agent_review."""
    raw = copy.deepcopy(library_by_key()[(base, "1.0.0")].raw)
    m = raw["metadata"]
    m.update(
        playbook_id=playbook_id,
        version=version,
        status=status,
        author="user_custom",
        storage_strategy="uploaded_for_review",
        name=f"Team {m['name']}",
        based_on={"playbook_id": base, "version": "1.0.0"},
        created_at=None,
        updated_at=None,
    )
    m.update(meta)
    for fmt in raw["execution_formats"].values():
        if fmt:
            fmt.pop("size_bytes")
            fmt.pop("checksum")
    raw = {k: v for k, v in raw.items() if v is not None}
    raw["execution_formats"] = {k: v for k, v in raw["execution_formats"].items() if v}
    return raw
