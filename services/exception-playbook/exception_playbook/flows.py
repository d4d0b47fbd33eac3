"""Orchestration around playbook_runs: transactions, refusals recorded, the relay woken."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from playbooks_platform.errors import DomainError, NotFound
from playbooks_platform.service import Runtime

from . import events as ev
from . import playbook_runs, service, step_statements
from .playbook_runs import Actor, Options
from .schemas import ExceptionPlaybook
from .service import CandidateCache
from .settings import ExceptionPlaybookSettings

log = logging.getLogger(__name__)

CACHE = "candidate_cache"


def candidate_cache(runtime: Runtime[ExceptionPlaybookSettings]) -> CandidateCache:
    """The process's one cache of compiled candidate playbooks (shared by routes and the worker)."""
    cache: CandidateCache | None = runtime.state.get(CACHE)
    if cache is None:
        cache = runtime.state[CACHE] = CandidateCache(runtime.settings.candidate_cache_tenants)
    return cache


def options(runtime: Runtime[ExceptionPlaybookSettings]) -> Options:
    return Options(runbook_runtime_url=runtime.settings.runbook_runtime_url)


def wake(runtime: Runtime) -> None:
    if runtime.relay is not None:
        runtime.relay.wake()


async def advance_step(
    runtime: Runtime[ExceptionPlaybookSettings],
    *,
    tenant_id: str,
    exception_ref: str,
    step_order: int,
    actor: Actor,
    skip: bool,
) -> ExceptionPlaybook:
    """Complete or skip a step and read the playbook back, in one transaction.

    A refusal is logged and appended to the exception's log (in a transaction of its own, as the
    refused one rolls back), then raised.
    """
    exception_id = None
    try:
        async with runtime.database.tenant_transaction(tenant_id) as session:
            state = await step_statements.load(session, tenant_id, exception_ref)
            exc = state.exception
            exception_id = exc.id
            outcome = await playbook_runs.advance_step(
                session=session,
                tenant_id=tenant_id,
                exception_ref=exception_ref,
                step_order=step_order,
                actor=actor,
                options=Options() if skip else options(runtime),
                skip=skip,
                state=state,
            )
            view = await playbook_runs.playbook_view(
                session=session,
                tenant_id=tenant_id,
                exc=outcome.exception,
                cache=candidate_cache(runtime),
                outcome=outcome,
            )
    except NotFound:
        raise
    except DomainError as exc_:
        if exception_id is not None:
            await _record_refusal(runtime, tenant_id, exception_id, step_order, actor, skip, exc_)
        raise
    wake(runtime)
    done = outcome.exception
    if exc.playbook_completed_at is None and done.playbook_completed_at is not None:
        # An exception's run: from its creation to the advance that completed its playbook, by
        # the status it ended in (the shared run_duration histogram; steps are advanced by people).
        seconds = (done.playbook_completed_at - done.created_at).total_seconds()
        runtime.metrics.run_duration("exception", "manual", done.status).observe(max(seconds, 0.0))
    return view


async def _record_refusal(
    runtime: Runtime[ExceptionPlaybookSettings],
    tenant_id: str,
    exception_id: uuid.UUID,
    step_order: int,
    actor: Actor,
    skip: bool,
    error: DomainError,
) -> None:
    log.warning(
        "step refused",
        extra={
            "tenant_id": tenant_id,
            "exception_id": str(exception_id),
            "step_order": step_order,
            "reason": error.detail,
            "actor_type": actor.type,
        },
    )
    payload: dict[str, Any] = {
        "step_order": step_order,
        "attempted": "skip" if skip else "complete",
        "status": error.status,
        "reason": error.detail,
        **actor.payload(),
    }
    async with runtime.database.tenant_transaction(tenant_id) as session:
        exc = await service.get_exception(session=session, tenant_id=tenant_id, exception_id=exception_id)
        if exc.current_playbook_id is not None:
            payload["playbook_id"] = str(exc.current_playbook_id)
        await ev.append(session, tenant_id=tenant_id, exception_id=exception_id, events=[(ev.STEP_REFUSED, payload)])
    wake(runtime)
