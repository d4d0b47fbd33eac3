"""The trigger consumer: ``triggers.v1`` -> one recorded run per (active playbook, event)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from playbooks_contracts import utcnow
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.service import Runtime

from .evaluation import PlaybookCache, record_events, runnable
from .settings import ConditionEngineSettings

CACHE = "playbook_cache"


def playbook_cache(runtime: Runtime[ConditionEngineSettings]) -> PlaybookCache:
    """The process's one cache of compiled playbooks (shared by the worker and dry-runs)."""
    cache: PlaybookCache | None = runtime.state.get(CACHE)
    if cache is None:
        cache = runtime.state[CACHE] = PlaybookCache(runtime.settings.playbook_cache_orgs)
    return cache


def triggers_handler(runtime: Runtime[ConditionEngineSettings]) -> Handler:
    cache = playbook_cache(runtime)

    async def handle(deliveries: Sequence[Delivery]) -> None:
        events = runnable([d.message for d in deliveries])
        if not events:
            return
        started = time.perf_counter()
        headers = {(d.message.org_id, d.message.id): d.trace_headers() for d in deliveries}
        # One transaction for the batch: event claims, run rows, their effects and the outbox
        # commit together, and the offsets are committed only after it, so a crash means
        # redelivery, never loss; a redelivered event finds its claim and makes nothing again.
        async with runtime.database.transaction() as session:
            playbooks = await cache.for_orgs(session, sorted({e.org_id for e in events}))
            now = utcnow()
            new = await record_events(
                session=session, events=events, playbooks=playbooks, now=now, trace_headers=headers
            )
        # A run here lives from its batch's arrival to its committed outcome (the shared
        # ``run_duration`` histogram, kind="condition"); redelivered runs were counted the first time.
        seconds = time.perf_counter() - started
        by_status = Counter(run.status for run in new)
        for status, count in by_status.items():
            observed = runtime.metrics.run_duration("condition", "live", status)  # the labels once per status
            for _ in range(count):
                observed.observe(seconds)
        if new and runtime.relay is not None:
            runtime.relay.wake()

    return handle
