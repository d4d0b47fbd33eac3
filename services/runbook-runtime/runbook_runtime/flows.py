"""Orchestration shared by the HTTP routes and the worker: one transaction per operation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from playbooks_platform.errors import Invalid, NotFound, PayloadTooLarge
from playbooks_platform.messages import Cause
from playbooks_platform.service import Runtime

from . import live, service
from .engine import Engine
from .limits import Limits
from .run_request import RunRequest
from .settings import RunbookRuntimeSettings


def resolve_ref(settings: RunbookRuntimeSettings, ref: str) -> dict[str, Any]:
    """A runbook file from ``runbooks_dir``; the name cannot leave that folder."""
    if settings.runbooks_dir is None:
        raise Invalid("runbook_ref is not available: this service has no runbooks_dir configured")
    root = settings.runbooks_dir.resolve()
    path = (root / ref).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"no runbook {ref!r} in the runbooks folder")
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise Invalid(f"{ref!r} is not a runbook document")
    return doc


async def start_run(
    runtime: Runtime[RunbookRuntimeSettings],
    settings: RunbookRuntimeSettings,
    request: RunRequest,
    *,
    cause: Cause | None = None,
) -> tuple[dict[str, Any], bool]:
    """(run row with its history, created): the run ``request`` asks for, advanced as far as it goes
    when it asks to start and is new. ``cause``: the consumed request this is for; what the run
    publishes meanwhile is caused by it."""
    org_id = request.org_id
    doc = request.runbook if request.runbook is not None else resolve_ref(settings, request.runbook_ref or "")
    _check_sizes(settings, doc, request.scenario)
    async with runtime.database.tenant_transaction(org_id) as session:
        row, created = await service.create_run(
            session=session,
            request=request,
            runbook_doc=doc,
            operator_commands=settings.real_mode_commands,
            default_policy=settings.default_org_policy,
            limits=Limits.of(settings),
            cause=cause,
        )
    live.notify(runtime.state, org_id, row["run_id"])
    # a repeated key never re-executes: only a new run is started here; completed steps stay done
    if created and request.start and request.mode != "dry-run":
        await operate(runtime, org_id, row["run_id"], lambda e: e.continue_(), what="continue", cause=cause)
    async with runtime.database.tenant_transaction(org_id) as session:
        row = await service.get_run(session=session, org_id=org_id, run_id=row["run_id"], history=True)
    return row, created


def _check_sizes(settings: RunbookRuntimeSettings, runbook: dict[str, Any], scenario: dict[str, Any] | None) -> None:
    for what, value in (("runbook", runbook), ("scenario", scenario)):
        size = len(json.dumps(value)) if value is not None else 0
        if size > settings.max_runbook_bytes:
            raise PayloadTooLarge(
                f"the {what} is {size} bytes, over the limit of {settings.max_runbook_bytes} "
                "(PLAYBOOKS_MAX_RUNBOOK_BYTES)"
            )


def step_executor(runtime: Runtime[RunbookRuntimeSettings]) -> ThreadPoolExecutor:
    """The threads that run engine actions: a pool of its own, so waiting steps never starve other work."""
    pool: ThreadPoolExecutor | None = runtime.state.get("step_executor")
    if pool is None:
        # Steps are Python work in threads; with the default 5 ms switch interval, every time the event
        # loop gives up the GIL (each select) it may wait 5 ms to get it back, and one /healthz needs
        # several: 1 ms keeps the loop's latency low while steps run, at a small cost in thread switches.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        pool = ThreadPoolExecutor(max_workers=runtime.settings.step_workers, thread_name_prefix="runbook-step")
        runtime.state["step_executor"] = pool
    return pool


async def operate(
    runtime: Runtime[RunbookRuntimeSettings],
    org_id: str,
    run_id: str,
    action: Callable[[Engine], Any],
    *,
    blocking: bool = False,
    what: str = "an advance",
    cause: Cause | None = None,
) -> Any:
    """Claim the run, apply ``action`` off the event loop, write what it recorded (see ``service.operate``)."""
    settings = runtime.settings
    try:
        outcome = await service.operate(
            database=runtime.database,
            org_id=org_id,
            run_id=run_id,
            action=action,
            operator_commands=settings.real_mode_commands,
            limits=Limits.of(settings),
            executor=step_executor(runtime),
            what=what,
            default_policy=settings.default_org_policy,
            cause=cause,
            on_ended=lambda state, seconds: runtime.metrics.run_duration("runbook", state.mode, state.status).observe(
                seconds
            ),
        )
    finally:
        # what the advance wrote (even when it failed part-way, its earlier batches stand) reaches the streams
        live.notify(runtime.state, org_id, run_id)
    if runtime.relay is not None:
        runtime.relay.wake()
    return outcome
