"""The trigger-ingest service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

import asyncio
import logging

from playbooks_contracts.topics import UPSTREAM_ACCOUNTS_PACK_RUNS, UPSTREAM_ACTIVITY_EVENTS, UPSTREAM_EXCEPTIONS
from playbooks_platform.service import ConsumerSpec, Runtime, ServiceSpec, create_app
from playbooks_platform.transient import is_transient

from .models import SCHEMA
from .routes import router
from .service import purge_expired
from .settings import TriggerIngestSettings
from .worker import upstream_handler

log = logging.getLogger(__name__)


async def purge_loop(runtime: Runtime, every_s: float = 3600) -> None:
    """Forget event ids past their window, so the dedupe table stays small."""
    while True:
        try:
            async with runtime.database.transaction() as session:
                removed = await purge_expired(session=session)
            if removed:
                log.info("purged expired event ids", extra={"count": removed})
        except Exception as exc:
            if not is_transient(exc):
                log.exception("purge failed")
        await asyncio.sleep(every_s)


spec = ServiceSpec(
    name="trigger-ingest",
    package="trigger_ingest",
    description="Accepts events over HTTP and from upstream topics; validates, normalises, de-duplicates "
    "and publishes them to triggers.v1.",
    settings_cls=TriggerIngestSettings,
    routers=[router],
    schema=SCHEMA,
    consumers=[
        ConsumerSpec(
            group="trigger-ingest.upstream",
            topics=[UPSTREAM_ACTIVITY_EVENTS, UPSTREAM_ACCOUNTS_PACK_RUNS, UPSTREAM_EXCEPTIONS],
            handler=upstream_handler,
            concurrent_partitions=True,  # idempotency lives in the seen_events table
        )
    ],
    background=[purge_loop],
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory trigger_ingest.main:create``."""
    return create_app(spec)
