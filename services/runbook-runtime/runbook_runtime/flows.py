"""Orchestration shared by the HTTP routes and the worker: one transaction per operation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from playbooks_platform.errors import Invalid, NotFound, PayloadTooLarge
from playbooks_platform.service import Runtime

from . import service
from .engine import Engine
from .limits import Limits
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
    runtime: Runtime,
    settings: RunbookRuntimeSettings,
    *,
    org_id: str,
    idempotency_key: str,
    runbook: dict[str, Any] | None,
    runbook_ref: str | None,
    mode: Any,
    vars_: dict[str, str],
    scenario: dict[str, Any] | None,
    replay_evidence: dict[str, Any] | None,
    actor: str,
    playbook_id: str | None,
    playbook_version: str | None,
    start: bool,
) -> tuple[dict[str, Any], bool]:
    doc = runbook if runbook is not None else resolve_ref(settings, runbook_ref or "")
    for what, value in (("runbook", doc), ("scenario", scenario)):
        size = len(json.dumps(value)) if value is not None else 0
        if size > settings.max_runbook_bytes:
            raise PayloadTooLarge(
                f"the {what} is {size} bytes, over the limit of {settings.max_runbook_bytes} "
                "(PLAYBOOKS_MAX_RUNBOOK_BYTES)"
            )
    async with runtime.database.tenant_transaction(org_id) as session:
        row, created = await service.create_run(
            session=session,
            org_id=org_id,
            idempotency_key=idempotency_key,
            runbook_doc=doc,
            mode=mode,
            vars_=vars_,
            scenario=scenario,
            replay_evidence=replay_evidence,
            actor=actor,
            playbook_id=playbook_id,
            playbook_version=playbook_version,
            operator_commands=settings.real_mode_commands,
            default_policy=settings.default_org_policy,
            limits=Limits.of(settings),
        )
    # a repeated key never re-executes: only a new run is started here; completed steps stay done
    if created and start and mode != "dry-run":
        await operate(runtime, org_id, row["run_id"], lambda e: e.continue_(), what="continue")
    async with runtime.database.tenant_transaction(org_id) as session:
        row = await service.get_run(session=session, org_id=org_id, run_id=row["run_id"], history=True)
    return row, created


def _settings(runtime: Runtime) -> RunbookRuntimeSettings:
    return runtime.settings  # type: ignore[return-value]


def step_executor(runtime: Runtime) -> ThreadPoolExecutor:
    """The threads that run engine actions: a pool of its own, so waiting steps never starve other work."""
    pool = runtime.state.get("step_executor")
    if pool is None:
        # Steps are Python work in threads; with the default 5 ms switch interval, every time the event
        # loop gives up the GIL (each select) it may wait 5 ms to get it back, and one /healthz needs
        # several: 1 ms keeps the loop's latency low while steps run, at a small cost in thread switches.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        pool = ThreadPoolExecutor(max_workers=_settings(runtime).step_workers, thread_name_prefix="runbook-step")
        runtime.state["step_executor"] = pool
    return pool  # type: ignore[no-any-return]


async def operate(
    runtime: Runtime,
    org_id: str,
    run_id: str,
    action: Callable[[Engine], Any],
    *,
    blocking: bool = False,
    what: str = "an advance",
) -> Any:
    """Claim the run, apply ``action`` off the event loop, write what it recorded (see ``service.operate``)."""
    settings = _settings(runtime)
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
        on_ended=lambda state, seconds: runtime.metrics.run_duration("runbook", state.mode, state.status).observe(
            seconds
        ),
    )
    if runtime.relay is not None:
        runtime.relay.wake()
    return outcome
