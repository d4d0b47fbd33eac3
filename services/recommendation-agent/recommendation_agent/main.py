"""The recommendation-agent service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

import asyncio
import logging

from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_RUNS, RUNBOOKS_COMPILED
from playbooks_platform.service import ConsumerSpec, Runtime, ServiceSpec, create_app

from .embeddings import DIMENSIONS, Embedder, EmbeddingCache, LocalMiniLM, OpenAIEmbeddings
from .models import SCHEMA
from .routes import router
from .search import SearchEngine
from .settings import RecommendationSettings
from .vector_index import EdgeIndex, QdrantServerIndex, VectorIndex
from .worker import compiled_handler, executions_handler, runs_handler

log = logging.getLogger(__name__)


async def start(runtime: Runtime[RecommendationSettings]) -> None:
    """Load the model, open the index, index the library when missing, rebuild missing tenant points."""
    settings = runtime.settings
    embedder: Embedder
    if settings.embeddings_url:
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        embedder = OpenAIEmbeddings(settings.embeddings_url, settings.embeddings_model, key)
    else:
        embedder = await asyncio.to_thread(LocalMiniLM)
    index: VectorIndex
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        index = QdrantServerIndex(DIMENSIONS, url=settings.qdrant_url, api_key=key)
    else:
        index = EdgeIndex(settings.edge_path, DIMENSIONS)
    await index.ensure()
    engine = SearchEngine(
        embedder=embedder, index=index, cache=EmbeddingCache(settings.embeddings_cache), settings=settings
    )
    runtime.state["engine"] = engine
    if settings.index_library_on_start:
        written = await engine.index_library()
        async with runtime.database.transaction() as session:
            rebuilt = await engine.reconcile_all(session)
        log.info("index ready", extra={"library_points_written": written, "tenant_points_rebuilt": rebuilt})


async def stop(runtime: Runtime[RecommendationSettings]) -> None:
    engine: SearchEngine | None = runtime.state.get("engine")
    if engine is not None:
        await engine.index.close()
        if isinstance(engine.embedder, OpenAIEmbeddings):
            await engine.embedder.close()
        elif isinstance(engine.embedder, LocalMiniLM):
            engine.embedder.close()


spec = ServiceSpec(
    name="recommendation-agent",
    package="recommendation_agent",
    description="Search and rank playbooks for a request in plain words: intent (rules, optional LLM), vector search "
    "over the global library and the tenant's playbooks (Qdrant), ranking with confidence and reasons; the playbook "
    "lifecycle, execution stats and signed script artifacts; goals: from words to a confirmed run in runbook-runtime, "
    "followed to its end.",
    settings_cls=RecommendationSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=True,  # goals request their runs on runbook-requests.v1 in the transaction that changes them
    consumers=[
        ConsumerSpec(group="recommendation-agent.executions", topics=[PLAYBOOK_EXECUTIONS], handler=executions_handler),
        ConsumerSpec(group="recommendation-agent.compiled", topics=[RUNBOOKS_COMPILED], handler=compiled_handler),
        # goals follow the runs they asked for (plan, status, artifacts)
        ConsumerSpec(group="recommendation-agent.goals", topics=[RUNBOOK_RUNS], handler=runs_handler),
    ],
    on_startup=start,
    on_shutdown=stop,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory recommendation_agent.main:create``."""
    return create_app(spec)
