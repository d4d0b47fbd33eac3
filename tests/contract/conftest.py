"""The two services the seeds' examples are posted to, started for real (PostgreSQL, broker, Qdrant Edge, MiniLM)."""

from __future__ import annotations

import asyncio

import pytest

from playbooks_platform.testing import Infra, running_service


@pytest.fixture(scope="session")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    """recommendation-agent with the real MiniLM and Qdrant Edge on a temporary folder."""
    from recommendation_agent.embeddings import load_minilm

    await asyncio.to_thread(load_minilm)
    async with running_service(
        "recommendation-agent",
        infra,
        index_path=tmp_path_factory.mktemp("edge"),
        embedding_cache_path=tmp_path_factory.mktemp("embeddings"),
    ) as (client, runtime, _app):
        yield client, runtime


@pytest.fixture(scope="session")
async def exceptions(infra: Infra):
    async with running_service("exception-playbook", infra) as (client, runtime, _app):
        yield client, runtime
