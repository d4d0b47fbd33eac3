"""Fixtures shared by every test: one real PostgreSQL database and one real broker per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from playbooks_dev.testing import Infra, start_infra
from playbooks_platform.telemetry import setup_tracing

SPANS = InMemorySpanExporter()
# Before any app exists: every span of the test process lands here.
setup_tracing("tests", processors=[SimpleSpanProcessor(SPANS)])


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    stack = start_infra(tmp_path_factory.mktemp("infra"))
    yield stack
    stack.close()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS


@pytest.fixture
def org() -> str:
    """A fresh org per test: tests share topics and tables, never each other's rows."""
    return f"org-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
async def recommendation_svc(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    """recommendation-agent's API, started once, with the real MiniLM and Qdrant Edge on a temporary folder.

    API only: its consumers would race those of the integration tests' own instance for the same messages
    (each instance indexes only what its own worker wrote)."""
    import asyncio

    from playbooks_dev.testing import running_service
    from recommendation_agent.embeddings import load_minilm

    await asyncio.to_thread(load_minilm)
    async with running_service(
        "recommendation-agent",
        infra,
        index_path=tmp_path_factory.mktemp("edge"),
        embedding_cache_path=tmp_path_factory.mktemp("embeddings"),
        role="api",
    ) as (client, runtime, _app):
        yield client, runtime


@pytest.fixture(scope="session")
async def exception_svc(infra: Infra):
    """exception-playbook's API, started once (no consumers, for the same reason)."""
    from playbooks_dev.testing import running_service

    async with running_service("exception-playbook", infra, role="api") as (client, runtime, _app):
        yield client, runtime
