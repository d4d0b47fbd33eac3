"""exception-playbook: matching latency with 1,000 candidate playbooks, step completions/s.

(a) matching one exception against a tenant's 1,000 compiled candidate playbooks (pure), p50/p99,
    next to a baseline in the same run: a naive matcher that reads each playbook's JSON
    conditions on every call;
(b) recalculate through the database (tenant transaction, revision check, exception row, the
    cached candidates), p50/p99;
(c) step completions/s over HTTP (in-process app, real PostgreSQL, outbox relay to the broker),
    8 concurrent clients on distinct exceptions, next to the raw baseline of this machine: the
    same compare-and-set UPDATE plus one event INSERT per transaction, with nothing around it.

Runs on the embedded stack (or PLAYBOOKS_DATABASE_URL / PLAYBOOKS_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

# This script shares its name with the service package: import the package, not the script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
matching = importlib.import_module("exception_playbook.matching")
playbook_runs = importlib.import_module("exception_playbook.playbook_runs")
flows = importlib.import_module("exception_playbook.flows")

from playbooks_dev.testing import Infra, running_service, start_infra  # noqa: E402
from playbooks_platform.figures import Figures  # noqa: E402

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "1000"))  # fewer: a quicker set-up when only (c) counts
MATCH_CALLS = int(os.environ.get("BENCH_MATCH_CALLS", "3000"))
RECALC_CALLS = int(os.environ.get("BENCH_RECALC_CALLS", "500"))
EXCEPTIONS = int(os.environ.get("BENCH_EXCEPTIONS", "200"))
STEPS = 5
CONCURRENCY = 8
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DOMAINS = [f"Domain{i}" for i in range(20)]
TYPES = [f"Type{i}" for i in range(50)]
SEVERITIES = ["low", "medium", "high", "critical"]
TAGS = [f"tag{i}" for i in range(30)]


def conditions(rng: random.Random) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if rng.random() < 0.98:
        match["domain"] = rng.choice(DOMAINS)
    if rng.random() < 0.7:
        match["exception_type"] = rng.choice(TYPES)
    if rng.random() < 0.6:
        match["severity_in"] = rng.sample(SEVERITIES, rng.randint(1, 3))
    if rng.random() < 0.3:
        match["sla_minutes_remaining_lt"] = rng.choice([30, 60, 240])
    if rng.random() < 0.3:
        tags = rng.sample(TAGS, 2)
        match["policy_tags"] = tags if rng.random() < 0.5 else {"all": tags}
    return {"match": match, "priority": rng.randint(0, 100)}


def facts(rng: random.Random) -> Any:
    return matching.Facts(
        domain=rng.choice(DOMAINS),
        exception_type=rng.choice(TYPES),
        severity=rng.choice(SEVERITIES),
        sla_deadline=NOW + timedelta(minutes=rng.randint(-30, 600)) if rng.random() < 0.8 else None,
        policy_tags=frozenset(rng.sample(TAGS, 3)),
    )


def naive_match(f: Any, playbooks: list[dict[str, Any]]) -> Any:
    """The baseline: read every playbook's JSON conditions on every call, as a first version would."""
    best = None
    for pb in playbooks:
        m = pb["conditions"]["match"]
        if "domain" in m and m["domain"].lower() != f.domain.lower():
            continue
        if "exception_type" in m and m["exception_type"].lower() != f.exception_type.lower():
            continue
        if "severity_in" in m and f.severity not in m["severity_in"]:
            continue
        sla = m.get("sla_minutes_remaining_lt")
        if sla is not None and (f.sla_deadline is None or (f.sla_deadline - NOW).total_seconds() / 60 >= sla):
            continue
        tags = m.get("policy_tags")
        if isinstance(tags, list) and not set(tags) & f.policy_tags:
            continue
        if isinstance(tags, dict) and not set(tags["all"]) <= f.policy_tags:
            continue
        key = (pb["conditions"]["priority"], pb["version"], pb["updated_at"])
        if best is None or key > best[0]:
            best = (key, pb)
    return best


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def timed(fn: Any, calls: list[Any]) -> list[float]:
    out = []
    for arg in calls:
        start = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


def bench_matching() -> dict[str, Any]:
    rng = random.Random(7)
    raw = [
        {
            "playbook_id": uuid.uuid4(),
            "name": f"pb{i}",
            "version": rng.randint(1, 4),
            "updated_at": NOW - timedelta(minutes=rng.randint(0, 10_000)),
            "conditions": conditions(rng),
        }
        for i in range(CANDIDATES)
    ]
    candidates = [matching.compile_candidate(**pb) for pb in raw]
    calls = [facts(rng) for _ in range(MATCH_CALLS)]
    timed(lambda f: matching.match(f, candidates, NOW), calls[:200])  # warm up
    ours = timed(lambda f: matching.match(f, candidates, NOW).summary(), calls)
    naive = timed(lambda f: naive_match(f, raw), calls)
    hits = sum(matching.match(f, candidates, NOW).selected is not None for f in calls)
    return {"ours": ours, "naive": naive, "hit_rate": hits / len(calls)}


async def bench_stack(infra: Infra) -> dict[str, Any]:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    rng = random.Random(11)
    async with running_service("exception-playbook", infra, log_level="WARNING") as (client, runtime, _app):
        headers = infra.auth(tenant)
        policy = {"status_transitions": {"open": ["in_progress"]}, "notification_channels": ["email"]}
        assert (await client.post("/api/policy-pack/versions", json=policy, headers=headers)).status_code == 201
        steps = [
            {"name": f"s{i}", "action_type": "add_comment", "params": {"text_template": "step ${n} of ${id}"}}
            for i in range(STEPS)
        ]
        for i in range(CANDIDATES):
            body = {"name": f"pb{i}", "conditions": conditions(rng), "steps": steps}
            if i == 0:
                body["conditions"] = {"match": {"domain": "Bench"}, "priority": 1000}
            r = await client.post("/api/playbooks", json=body, headers=headers)
            assert r.status_code == 201, r.text

        ids = []
        for i in range(EXCEPTIONS):
            body = {"domain": "Bench", "exception_type": "T", "severity": "high", "attributes": {"n": i}}
            r = await client.post("/api/exceptions", json=body, headers=headers)
            assert r.status_code == 201 and r.json()["current_step"] == 1, r.text
            ids.append(uuid.UUID(r.json()["id"]))

        cache = flows.candidate_cache(runtime)
        recalc = []
        for i in range(RECALC_CALLS):
            start = time.perf_counter()
            async with runtime.database.tenant_transaction(tenant) as session:
                await playbook_runs.recalculate(
                    session=session, tenant_id=tenant, exception_id=ids[i % len(ids)], cache=cache
                )
            recalc.append((time.perf_counter() - start) * 1000)

        queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        for exception_id in ids:
            queue.put_nowait(exception_id)

        async def worker() -> int:
            done = 0
            while not queue.empty():
                exception_id = queue.get_nowait()
                for order in range(1, STEPS + 1):
                    r = await client.post(
                        f"/api/exceptions/{exception_id}/playbook/steps/{order}/complete", json={}, headers=headers
                    )
                    assert r.status_code == 200, r.text
                    done += 1
            return done

        start = time.perf_counter()
        completed = sum(await asyncio.gather(*[worker() for _ in range(CONCURRENCY)]))
        http_rate = completed / (time.perf_counter() - start)

        # The raw baseline: the same compare-and-set UPDATE and one event INSERT per transaction.
        async def raw_worker(rows: list[uuid.UUID]) -> int:
            for exception_id in rows:
                for _ in range(STEPS):
                    async with runtime.database.tenant_transaction(tenant) as session:
                        version = await session.scalar(
                            text("SELECT version FROM exception_playbook.exceptions WHERE id = :id"),
                            {"id": exception_id},
                        )
                        await session.execute(
                            text(
                                "UPDATE exception_playbook.exceptions SET version = version + 1 "
                                "WHERE id = :id AND version = :v"
                            ),
                            {"id": exception_id, "v": version},
                        )
                        await session.execute(
                            text(
                                "INSERT INTO exception_playbook.exception_events "
                                "(id, exception_id, tenant_id, event_type, payload) "
                                "VALUES (:e, :id, :t, 'Bench', '{}'::jsonb)"
                            ),
                            {"e": uuid.uuid4(), "id": exception_id, "t": tenant},
                        )
            return len(rows) * STEPS

        shards = [ids[i::CONCURRENCY] for i in range(CONCURRENCY)]
        start = time.perf_counter()
        raw_done = sum(await asyncio.gather(*[raw_worker(s) for s in shards]))
        raw_rate = raw_done / (time.perf_counter() - start)
    return {"recalc": recalc, "http_rate": http_rate, "raw_rate": raw_rate, "completed": completed}


def main() -> None:
    m = bench_matching()
    print(
        f"(a) matching 1 exception against {CANDIDATES} candidate playbooks, {MATCH_CALLS} calls, "
        f"{m['hit_rate']:.0%} with a match"
    )
    for label, values in (("compiled (ours)", m["ours"]), ("naive JSON baseline", m["naive"])):
        print(
            f"    {label:<20} p50 {pct(values, 0.5):.3f} ms  p99 {pct(values, 0.99):.3f} ms  "
            f"mean {statistics.fmean(values):.3f} ms"
        )
    work = Path(tempfile.mkdtemp(prefix="bench-exception-playbook-"))
    infra = start_infra(work)
    try:
        s = asyncio.run(bench_stack(infra))
    finally:
        infra.close()
    r = s["recalc"]
    figures = Figures()
    for label, values in (("compiled", m["ours"]), ("naive", m["naive"])):
        figures.add(f"matching.{label}_p50_ms", pct(values, 0.5))
        figures.add(f"matching.{label}_p99_ms", pct(values, 0.99))
        figures.add(f"matching.{label}_mean_ms", statistics.fmean(values))
    figures.update(
        {
            "recalculate.p50_ms": pct(r, 0.5),
            "recalculate.p99_ms": pct(r, 0.99),
            "completions.http_per_s": s["http_rate"],
            "completions.raw_baseline_per_s": s["raw_rate"],
            "completions.vs_raw_baseline": s["http_rate"] / s["raw_rate"],
        }
    )
    print(
        f"(b) recalculate through PostgreSQL with {CANDIDATES} candidates, {len(r)} calls: "
        f"p50 {pct(r, 0.5):.2f} ms  p99 {pct(r, 0.99):.2f} ms"
    )
    print(
        f"(c) step completions over HTTP, {CONCURRENCY} concurrent clients: {s['http_rate']:.0f}/s "
        f"({s['completed']} completions); raw CAS UPDATE + event INSERT baseline: {s['raw_rate']:.0f}/s; "
        f"{s['http_rate'] / s['raw_rate']:.2f}x the baseline"
    )
    figures.write()


if __name__ == "__main__":
    main()
