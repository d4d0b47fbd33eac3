"""The runbook-runtime service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

from playbooks_contracts.topics import RUNBOOK_REQUESTS
from playbooks_platform.service import ConsumerSpec, Runtime, ServiceSpec, create_app

from .models import SCHEMA
from .routes import router
from .settings import RunbookRuntimeSettings
from .worker import requests_handler


async def _shutdown(runtime: Runtime) -> None:
    pool = runtime.state.pop("step_executor", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


spec = ServiceSpec(
    name="runbook-runtime",
    package="runbook_runtime",
    description="Executes runbooks as a deterministic state machine (real, replay, dry-run) with governed CLI "
    "steps, manual evidence, approvals, a trace and snapshots.",
    settings_cls=RunbookRuntimeSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=True,
    consumers=[ConsumerSpec(group="runbook-runtime.requests", topics=[RUNBOOK_REQUESTS], handler=requests_handler)],
    on_shutdown=_shutdown,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory runbook_runtime.main:create``."""
    return create_app(spec)
