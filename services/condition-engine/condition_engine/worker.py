"""The trigger consumer: ``triggers.v1`` -> one recorded run per (active playbook, event)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from playbooks_contracts import Envelope, utcnow
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.service import Runtime

from .execution import PlaybookCache, commit_runs, evaluate_events, runnable
from .settings import ConditionEngineSettings

CACHE = "playbook_cache"


def playbook_cache(runtime: Runtime) -> PlaybookCache:
    """The process's one cache of compiled playbooks (shared by the worker and dry-runs)."""
    cache = runtime.state.get(CACHE)
    if cache is None:
        settings: ConditionEngineSettings = runtime.settings  # type: ignore[assignment]
        cache = runtime.state[CACHE] = PlaybookCache(settings.playbook_cache_orgs)
    return cache  # type: ignore[no-any-return]


def triggers_handler(runtime: Runtime) -> Handler:
    cache = playbook_cache(runtime)

    async def handle(deliveries: Sequence[Delivery]) -> None:
        events = runnable([d.message for d in deliveries if isinstance(d.message, Envelope)])
        if not events:
            return
        started = time.perf_counter()
        headers = {
            (d.message.org_id, d.message.id): d.trace_headers() for d in deliveries if isinstance(d.message, Envelope)
        }
        # One transaction for the batch: run rows, their effects and the outbox commit together,
        # and the offsets are committed only after it, so a crash means redelivery, never loss.
        async with runtime.database.transaction() as session:
            playbooks = await cache.for_orgs(session, sorted({e.org_id for e in events}))
            now = utcnow()
            runs = evaluate_events(events, playbooks, now)
            new = await commit_runs(session=session, runs=runs, now=now, trace_headers=headers)
        # A run here lives from its batch's arrival to its committed outcome (the shared
        # ``run_duration`` histogram, kind="condition"); redelivered runs were counted the first time.
        seconds = time.perf_counter() - started
        for run in new:
            runtime.metrics.run_duration("condition", "live", run.status).observe(seconds)
        if new and runtime.relay is not None:
            runtime.relay.wake()

    return handle
