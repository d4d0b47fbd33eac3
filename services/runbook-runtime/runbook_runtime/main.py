"""The runbook-runtime service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

import asyncio
import logging

from playbooks_contracts.topics import RUNBOOK_REQUESTS, RUNBOOKS_COMPILED
from playbooks_platform.service import ConsumerSpec, Runtime, ServiceSpec, create_app

from . import sandbox
from .models import SCHEMA
from .routes import router
from .runner import RunnerClient
from .settings import RunbookRuntimeSettings
from .worker import compiled_handler, requests_handler

log = logging.getLogger(__name__)


async def start_executor(runtime: Runtime[RunbookRuntimeSettings]) -> None:
    """Real steps go to the runner when one is configured, else to a sandbox in this process."""
    settings = runtime.settings
    if settings.runner_url:
        executor: sandbox.Executor = RunnerClient(settings.runner_url, settings.runner_token_file)
    else:
        # detecting the layers starts a probe sandbox: not on the event loop
        box = await asyncio.to_thread(sandbox.Sandbox.from_settings, settings)
        if box.layers.user is None and box.layers.bwrap is None:
            log.warning(
                "real steps run in this process as its own user without namespaces: they can read this "
                "service's files (not its /proc); set PLAYBOOKS_RUNNER_URL to run them in the runbook runner"
            )
        executor = box.run
    runtime.state["executor"] = executor
    sandbox.configure(executor)


async def stop_executor(runtime: Runtime[RunbookRuntimeSettings]) -> None:
    """Running steps are cancelled with the service: their process groups are killed."""
    watch = runtime.state.pop("run_watch", None)
    if watch is not None:  # the poller of open run event streams
        await watch.close()
    pool = runtime.state.pop("step_executor", None)
    if pool is not None:  # the threads engine actions run in (flows.step_executor)
        pool.shutdown(wait=False, cancel_futures=True)
    executor = runtime.state.pop("executor", None)
    sandbox.configure(None)
    owner = getattr(executor, "__self__", executor)
    if isinstance(owner, sandbox.Sandbox):
        owner.kill_all()
    elif isinstance(owner, RunnerClient):
        owner.close()


spec = ServiceSpec(
    name="runbook-runtime",
    package="runbook_runtime",
    description="Executes runbooks as a deterministic state machine (real, replay, dry-run) with governed CLI "
    "steps, manual evidence, approvals, a trace and snapshots.",
    settings_cls=RunbookRuntimeSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=True,
    consumers=[
        ConsumerSpec(group="runbook-runtime.requests", topics=[RUNBOOK_REQUESTS], handler=requests_handler),
        # The org's published runbooks, which requests from automation name by id and version.
        ConsumerSpec(group="runbook-runtime.compiled", topics=[RUNBOOKS_COMPILED], handler=compiled_handler),
    ],
    on_startup=start_executor,
    on_shutdown=stop_executor,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory runbook_runtime.main:create``."""
    return create_app(spec)
