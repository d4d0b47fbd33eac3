"""The recommendation-agent service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

import asyncio
import logging

from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOKS_COMPILED
from playbooks_platform.service import ConsumerSpec, Runtime, ServiceSpec, create_app

from .embeddings import DIMENSIONS, Embedder, EmbeddingCache, LocalMiniLM, OpenAIEmbeddings
from .engine import Engine
from .models import SCHEMA
from .routes import router
from .settings import RecommendationSettings
from .vector_index import EdgeIndex, QdrantServerIndex, VectorIndex
from .worker import compiled_handler, executions_handler

log = logging.getLogger(__name__)


async def start(runtime: Runtime) -> None:
    """Load the model, open the index, index the library when missing, rebuild missing tenant points."""
    settings: RecommendationSettings = runtime.settings  # type: ignore[assignment]
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
    engine = Engine(embedder=embedder, index=index, cache=EmbeddingCache(settings.embeddings_cache), settings=settings)
    runtime.state["engine"] = engine
    if settings.index_library_on_start:
        written = await engine.index_library()
        async with runtime.database.transaction() as session:
            rebuilt = await engine.reconcile_all(session)
        log.info("index ready", extra={"library_points_written": written, "tenant_points_rebuilt": rebuilt})


async def stop(runtime: Runtime) -> None:
    engine: Engine | None = runtime.state.get("engine")
    if engine is not None:
        await engine.index.close()
        if isinstance(engine.embedder, OpenAIEmbeddings):
            await engine.embedder.close()


spec = ServiceSpec(
    name="recommendation-agent",
    package="recommendation_agent",
    description="Search and rank playbooks for a request in plain words: intent (rules, optional LLM), vector search "
    "over the global library and the tenant's playbooks (Qdrant), ranking with confidence and reasons; the playbook "
    "lifecycle, execution stats and signed script artifacts.",
    settings_cls=RecommendationSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=False,
    consumers=[
        ConsumerSpec(group="recommendation-agent.executions", topics=[PLAYBOOK_EXECUTIONS], handler=executions_handler),
        ConsumerSpec(group="recommendation-agent.compiled", topics=[RUNBOOKS_COMPILED], handler=compiled_handler),
    ],
    on_startup=start,
    on_shutdown=stop,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory recommendation_agent.main:create``."""
    return create_app(spec)
