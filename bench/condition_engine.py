"""condition-engine: DSL evaluations/s, end-to-end events/s, latency at 500 events/s and the highest rate.

(a) compiled conditions vs a naive interpreter that re-reads each condition per event;
(b) events/s from triggers.v1 to committed run rows, 10 active playbooks per org, next to the raw
    baseline of this machine: a plain consumer reading the same events and inserting the same
    run rows in batches (no service in between); and the service process's CPU per event, which
    moves less with the machine's other load than either rate;
(c) p50/p99 from publishing an event to its run recorded, at steady rates from 100 events/s up,
    stopping at the first whose p99 (publish -> run row) is 250 ms or more: the figure at 500/s,
    and the highest rate under 250 ms; (c) starts once (b)'s outbox backlog has been relayed, so
    it measures latency, not the backlog (the time that took is printed);
(d) the run-insert statement with each event's JSON parsed per run vs once per event;
(e) the service's narrow run rows by INSERT ... unnest against binary COPY.

Runs on the embedded stack (or PLAYBOOKS_DATABASE_URL / PLAYBOOKS_KAFKA_BOOTSTRAP) with
condition-engine as its own `playbooks serve` process, as in `make dev`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from playbooks_contracts import Envelope
from playbooks_contracts.topics import PLAYBOOK_RUNS, TRIGGERS
from playbooks_dev.testing import Infra, ServiceProcess, start_infra
from playbooks_platform.figures import Figures

# This script shares its name with the service package: import the package, not the script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
compile_raw = importlib.import_module("condition_engine.dsl").compile_raw

N_EVENTS = int(os.environ.get("BENCH_N", "10000"))
ORGS = 12
PLAYBOOKS_PER_ORG = 10
LATENCY_RATE = int(os.environ.get("BENCH_LATENCY_RATE", "500"))  # the aim is stated at 500 (issue 25)
LATENCY_SECONDS = 5
# The rates tried, in order, until p99 publish -> row reaches the bound (issue 25 asks for the
# highest rate under 250 ms).
SWEEP_RATES = [
    int(r) for r in os.environ.get("BENCH_SWEEP_RATES", "100,250,500,750,1000,1250,1500,2000,3000").split(",")
]
SWEEP_BOUND_MS = 250.0

CONDITIONS = [
    {"field": "metrics.pack_type", "op": "equals", "value": "investor_accounts_snapshot"},
    {"field": "metrics.estimatedRunwayMonths", "op": "lt", "value": 6},
    {"field": "metrics.totalMonthlyBurn", "op": "gt", "value": 0},
]


def pack_run(i: int) -> dict[str, Any]:
    return {
        "metrics": {
            "pack_type": "investor_accounts_snapshot" if i % 4 else "monthly_close",
            "estimatedRunwayMonths": i % 12,
            "totalMonthlyBurn": str(1000 * (i % 3)),  # sometimes a numeric string
        }
    }


# -- (a) the DSL ------------------------------------------------------------------------------


def naive_evaluate(conditions: list[dict[str, Any]], event: dict[str, Any]) -> bool:
    """The baseline: interpret each condition's JSON for every event, as a first version would."""
    for cond in conditions:
        node: Any = event
        for key in cond["field"].split("."):
            node = node.get(key) if isinstance(node, dict) else None
        value, op = cond["value"], cond["op"]
        if node is None:
            return False
        if isinstance(value, int | float) and not isinstance(value, bool) and isinstance(node, str):
            try:
                node = float(node)
            except ValueError:
                return False
        try:
            if op == "equals":
                ok = node == value
            elif op == "not_equals":
                ok = node != value
            elif op == "starts_with":
                ok = isinstance(node, str) and node.startswith(value)
            elif op == "contains":
                ok = value in node
            elif op == "gt":
                ok = node > value
            elif op == "gte":
                ok = node >= value
            elif op == "lt":
                ok = node < value
            elif op == "lte":
                ok = node <= value
            else:
                raise ValueError(f"unknown operator {op}")
        except TypeError:
            return False
        if not ok:
            return False
    return True


def bench_dsl(n: int = 100_000) -> tuple[float, float]:
    events = [pack_run(i) for i in range(1000)]
    compiled = compile_raw(CONDITIONS)
    assert [compiled.matches(e) for e in events] == [naive_evaluate(CONDITIONS, e) for e in events]

    def rate(fn: Any) -> float:
        # CPU time of this process, not wall time: on a 2-core machine shared with other work,
        # wall time counts the moments this process was not running at all.
        start = time.process_time()
        for i in range(n):
            fn(events[i % 1000])
        return n / (time.process_time() - start)

    # Alternating rounds, the best of each side: on a noisy machine one long run of each put
    # the two sides in different weather (the same code measured 0.98x to 1.58x).
    compiled_rate = naive_rate = 0.0
    for _ in range(5):
        compiled_rate = max(compiled_rate, rate(compiled.matches))
        naive_rate = max(naive_rate, rate(lambda e: naive_evaluate(CONDITIONS, e)))
    return compiled_rate, naive_rate


def bench_dsl_worker(n: int = 100_000) -> dict[str, float]:
    """The worker's own questions, ns per call: ``first_failing`` (decide) and ``first_failure``
    (decide, then explain the failing condition; three events in four fail one here)."""
    events = [pack_run(i) for i in range(1000)]
    compiled = compile_raw(CONDITIONS)

    def ns(fn: Any) -> float:
        start = time.process_time()
        for i in range(n):
            fn(events[i % 1000])
        return (time.process_time() - start) * 1e9 / n

    out = {"empty_call_ns": float("inf"), "first_failing_ns": float("inf"), "first_failure_ns": float("inf")}
    for _ in range(5):
        for name, fn in (
            ("empty_call_ns", lambda _e: None),
            ("first_failing_ns", compiled.first_failing),
            ("first_failure_ns", compiled.first_failure),
        ):
            out[name] = min(out[name], ns(fn))
    return out


def dsl_only() -> None:
    """``--dsl-only``: part (a) and the worker's questions, without starting the stack."""
    compiled, naive = bench_dsl()
    worker = bench_dsl_worker()
    print(f"{'(a) naive interpreter (baseline)':<52}{naive:>12,.0f} evaluations/s   1.00x")
    print(f"{'(a) compiled conditions (matches)':<52}{compiled:>12,.0f} evaluations/s   {compiled / naive:.2f}x")
    for name, value in worker.items():
        print(f"{'    ' + name:<52}{value:>12,.0f} ns")
    figures = Figures()
    figures.update(
        {
            "dsl.naive_evaluations_per_s": naive,
            "dsl.compiled_evaluations_per_s": compiled,
            "dsl.compiled_vs_naive": compiled / naive,
            **{f"dsl.{name}": value for name, value in worker.items()},
        }
    )
    figures.write()


# -- the stack ---------------------------------------------------------------------------------


async def create_playbooks(client: httpx.AsyncClient, infra: Infra, orgs: list[str]) -> None:
    """10 active playbooks per org: some pass on most events, some skip, one does two actions."""
    for org in orgs:
        for p in range(PLAYBOOKS_PER_ORG):
            body = {
                "name": f"bench {p}",
                "trigger": "accounts_pack_run",
                "conditions": CONDITIONS[: 1 + p % 3],
                "actions": [{"type": "log_activity", "params": {"type": "investor_update_recommended"}}]
                + ([{"type": "enqueue_task", "params": {"queue": "investor_updates"}}] if p == 0 else []),
                "status": "active",
            }
            r = await client.post("/api/playbooks", json=body, headers=infra.auth(org))
            r.raise_for_status()


def envelopes(orgs: list[str], n: int) -> list[Envelope]:
    return [Envelope(type="accounts_pack_run", org_id=orgs[i % len(orgs)], data=pack_run(i)) for i in range(n)]


async def produce(bootstrap: str, topic: str, events: list[Envelope], rate: float | None = None) -> dict[str, float]:
    """Publish events (at ``rate`` per second if given); returns each event id's send time."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=1 if rate else 5
    )
    await producer.start()
    sent: dict[str, float] = {}
    try:
        futures = []
        start = time.perf_counter()
        for i, env in enumerate(events):
            if rate is not None:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[str(env.id)] = time.time()
            payload = orjson.dumps(env.model_dump(mode="json"))
            futures.append(await producer.send(topic, payload, key=env.org_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def count_runs(db: Any, orgs: list[str], table: str = "condition_engine.playbook_runs") -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE org_id = ANY(:o)"), {"o": orgs}))


async def end_to_end(infra: Infra, db: Any, orgs: list[str]) -> tuple[float, int]:
    events = envelopes(orgs, N_EVENTS)
    expected = N_EVENTS * PLAYBOOKS_PER_ORG
    start = time.perf_counter()
    await produce(infra.kafka_bootstrap, TRIGGERS.name, events)
    deadline = start + 300
    while (done := await count_runs(db, orgs)) < expected:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {done}/{expected} runs")
        await asyncio.sleep(0.05)
    return N_EVENTS / (time.perf_counter() - start), expected


async def drain_outbox(db: Any, timeout: float = 600) -> float:
    """Seconds until the service's outbox is empty: (b) commits runs faster than their messages
    are relayed, and (c) measured behind that backlog would time the backlog, not the latency."""
    start = time.perf_counter()
    while True:
        async with db.connect() as conn:
            if not await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM condition_engine.outbox)")):
                break
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the outbox still holds rows after {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used: on a loaded machine its wall-time rate
    moves with the neighbours, its CPU per event much less."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_RAW_INSERT = text(
    "INSERT INTO bench_raw.runs (id, playbook_id, org_id, event_id, trigger_event, status, metrics, created_at) "
    "SELECT id, pb, org, ev, te::jsonb, st, me::jsonb, now() FROM unnest(CAST(:ids AS uuid[]), "
    "CAST(:pbs AS uuid[]), CAST(:orgs AS text[]), CAST(:evs AS uuid[]), CAST(:tes AS text[]), "
    "CAST(:sts AS text[]), CAST(:mes AS text[])) AS r(id, pb, org, ev, te, st, me) "
    "ON CONFLICT (playbook_id, event_id) DO NOTHING"
)


# (d) the run rows' event JSON: parsed once per run (the statement before decision 0015, the
# baseline) against once per event with each run pointing at its event's document (the service's
# statement since), into a scratch table shaped like playbook_runs; alternating rounds, medians.
_PER_RUN = text(
    "INSERT INTO bench_doc.runs (id, playbook_id, org_id, event_id, trigger_event, status, metrics) "
    "SELECT id, pb, org, ev, te::jsonb, 'skipped', '{}'::jsonb FROM unnest(CAST(:ids AS uuid[]), "
    "CAST(:pbs AS uuid[]), CAST(:orgs AS text[]), CAST(:evs AS uuid[]), CAST(:tes AS text[])) "
    "AS r(id, pb, org, ev, te) ON CONFLICT (org_id, playbook_id, event_id) DO NOTHING RETURNING id"
)
_PER_EVENT = text(
    "INSERT INTO bench_doc.runs (id, playbook_id, org_id, event_id, trigger_event, status, metrics) "
    "SELECT id, pb, org, ev, d.doc, 'skipped', '{}'::jsonb FROM unnest(CAST(:ids AS uuid[]), "
    "CAST(:pbs AS uuid[]), CAST(:orgs AS text[]), CAST(:evs AS uuid[]), CAST(:tes AS int[])) "
    "AS r(id, pb, org, ev, te) JOIN (SELECT CAST(doc AS jsonb) AS doc, n FROM unnest(CAST(:docs AS text[])) "
    "WITH ORDINALITY AS u(doc, n) OFFSET 0) AS d ON d.n = r.te "
    "ON CONFLICT (org_id, playbook_id, event_id) DO NOTHING RETURNING id"
)


async def event_json_statements(db: Any, pad: int, events: int = 500, rounds: int = 10) -> tuple[float, float, int]:
    """us of statement per event (10 runs each): per-run parse, per-event parse; and the JSON size."""
    async with db.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_doc"))
        await conn.execute(text("DROP TABLE IF EXISTS bench_doc.runs"))
        await conn.execute(
            text(
                "CREATE TABLE bench_doc.runs (id uuid PRIMARY KEY, playbook_id uuid, org_id text, event_id uuid, "
                "trigger_event jsonb NOT NULL, status text, metrics jsonb, UNIQUE (org_id, playbook_id, event_id))"
            )
        )
    playbooks = [uuid.uuid4() for _ in range(PLAYBOOKS_PER_ORG)]
    timings: dict[str, list[float]] = {"run": [], "event": []}
    size = 0
    for _ in range(rounds):
        for kind in ("run", "event"):
            docs = [
                orjson.dumps({**pack_run(i), **({"pad": "x" * pad} if pad else {})}).decode() for i in range(events)
            ]
            size = len(docs[0])
            evs = [uuid.uuid4() for _ in range(events)]
            params: dict[str, Any] = {
                "ids": [uuid.uuid4() for _ in range(events * len(playbooks))],
                "pbs": playbooks * events,
                "orgs": ["org"] * (events * len(playbooks)),
                "evs": [e for e in evs for _ in playbooks],
            }
            if kind == "run":
                params["tes"] = [d for d in docs for _ in playbooks]
            else:
                params["tes"], params["docs"] = [i + 1 for i in range(events) for _ in playbooks], docs
            async with db.begin() as conn:
                start = time.perf_counter()
                await conn.execute(_PER_RUN if kind == "run" else _PER_EVENT, params)
                timings[kind].append((time.perf_counter() - start) * 1e6 / events)
    async with db.begin() as conn:
        await conn.execute(text("DROP SCHEMA bench_doc CASCADE"))
    return statistics.median(timings["run"]), statistics.median(timings["event"]), size


# (e) the service's run rows (narrow since decision 0019: the event's JSON is in run_events) by
# ``INSERT ... SELECT FROM unnest`` against binary ``COPY``, into a scratch table shaped like
# playbook_runs with its indexes; wall time of the statement and CPU time of this process, per
# event of 10 runs, median of alternating rounds.
_UNNEST_RUNS = text(
    "INSERT INTO bench_copy.runs (id, playbook_id, org_id, event_id, status, error, metrics, created_at, "
    "completed_at) SELECT id, pb, org, ev, st, er, me::jsonb, :now, :now FROM unnest(CAST(:ids AS uuid[]), "
    "CAST(:pbs AS uuid[]), CAST(:orgs AS text[]), CAST(:evs AS uuid[]), CAST(:sts AS text[]), "
    "CAST(:ers AS text[]), CAST(:mes AS text[])) AS r(id, pb, org, ev, st, er, me)"
)
_COPY_COLUMNS = ["id", "playbook_id", "org_id", "event_id", "status", "error", "metrics", "created_at", "completed_at"]


async def run_row_statements(db: Any, events: int = 500, rounds: int = 10) -> dict[str, float]:
    async with db.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_copy"))
        await conn.execute(text("DROP TABLE IF EXISTS bench_copy.runs"))
        await conn.execute(
            text(
                "CREATE TABLE bench_copy.runs (id uuid PRIMARY KEY, playbook_id uuid NOT NULL, org_id text NOT NULL, "
                "event_id uuid NOT NULL, status text NOT NULL, error text, metrics jsonb NOT NULL, "
                "created_at timestamptz NOT NULL, completed_at timestamptz)"
            )
        )
        await conn.execute(text("CREATE INDEX ON bench_copy.runs (org_id, created_at DESC, id DESC)"))
    playbooks = [uuid.uuid4() for _ in range(PLAYBOOKS_PER_ORG)]
    metrics = orjson.dumps(
        {
            "playbookName": "bench 3",
            "trigger": "accounts_pack_run",
            "actionsCount": 0,
            "category": "accounts",
            "packType": "investor_accounts_snapshot",
            "failedCondition": {"index": 1, "message": "x is 7, not < 6"},
        }
    ).decode()
    wall: dict[str, list[float]] = {"unnest": [], "copy": []}
    cpu: dict[str, list[float]] = {"unnest": [], "copy": []}
    for _ in range(rounds):
        for kind in ("unnest", "copy"):
            now = datetime.now(UTC)
            evs = [uuid.uuid4() for _ in range(events)]
            n = events * len(playbooks)
            ids = [uuid.uuid4() for _ in range(n)]  # made before the clock: both sides get the same ids
            async with db.begin() as conn:
                start, start_cpu = time.perf_counter(), time.process_time()
                if kind == "unnest":
                    await conn.execute(
                        _UNNEST_RUNS,
                        {
                            "now": now,
                            "ids": ids,
                            "pbs": playbooks * events,
                            "orgs": ["org"] * n,
                            "evs": [e for e in evs for _ in playbooks],
                            "sts": ["skipped"] * n,
                            "ers": [None] * n,
                            "mes": [metrics] * n,
                        },
                    )
                else:
                    records = [
                        (uuid.uuid4(), pb, "org", e, "skipped", None, metrics, now, now)
                        for e in evs
                        for pb in playbooks
                    ]
                    raw = await conn.get_raw_connection()
                    await raw.driver_connection.copy_records_to_table(
                        "runs", schema_name="bench_copy", columns=_COPY_COLUMNS, records=records
                    )
                wall[kind].append((time.perf_counter() - start) * 1e6 / events)
                cpu[kind].append((time.process_time() - start_cpu) * 1e6 / events)
    async with db.begin() as conn:
        await conn.execute(text("DROP SCHEMA bench_copy CASCADE"))
    return {f"{k}_{m}": statistics.median(v[k]) for m, v in (("wall_us", wall), ("cpu_us", cpu)) for k in v}


async def raw_baseline(infra: Infra, db: Any, orgs: list[str]) -> float:
    """Consume the same number of events from a topic and insert 10 run rows each, batched."""
    async with db.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_raw"))
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_raw.runs (id uuid PRIMARY KEY, playbook_id uuid, org_id text, "
                "event_id uuid, trigger_event jsonb, status text, metrics jsonb, created_at timestamptz, "
                "UNIQUE (playbook_id, event_id))"
            )
        )
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await produce(infra.kafka_bootstrap, topic, envelopes(orgs, N_EVENTS))
    playbooks = [uuid.uuid4() for _ in range(PLAYBOOKS_PER_ORG)]
    metrics = orjson.dumps({"playbookName": "bench", "trigger": "accounts_pack_run", "actionsCount": 1}).decode()
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}])
        await consumer.seek_to_beginning()
        seen = 0
        start = time.perf_counter()
        while seen < N_EVENTS:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            rows: dict[str, list[Any]] = {k: [] for k in ("ids", "pbs", "orgs", "evs", "tes", "sts", "mes")}
            for records in batch.values():
                for r in records:
                    env = orjson.loads(r.value)
                    data = orjson.dumps(env["data"]).decode()
                    for pb in playbooks:
                        rows["ids"].append(uuid.uuid4())
                        rows["pbs"].append(pb)
                        rows["orgs"].append(env["org_id"])
                        rows["evs"].append(uuid.UUID(env["id"]))
                        rows["tes"].append(data)
                        rows["sts"].append("success")
                        rows["mes"].append(metrics)
                    seen += 1
            if rows["ids"]:
                async with db.begin() as conn:
                    await conn.execute(_RAW_INSERT, rows)
        return N_EVENTS / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def latency(infra: Infra, orgs: list[str], rate: int) -> tuple[list[float], list[float]]:
    """Publish at a steady rate; per run, seconds from publish to (1) its row's timestamp and
    (2) its record on playbook-runs.v1, which the outbox relays only after the commit."""
    events = envelopes(orgs, rate * LATENCY_SECONDS)
    wanted = {str(e.id) for e in events}
    expected = len(events) * PLAYBOOKS_PER_ORG
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    to_row: list[float] = []
    to_record: list[float] = []
    try:
        await consumer.topics()
        parts = [TopicPartition(PLAYBOOK_RUNS.name, p) for p in consumer.partitions_for_topic(PLAYBOOK_RUNS.name) or ()]
        consumer.assign(parts)
        await consumer.seek_to_end()
        for tp in parts:
            await consumer.position(tp)
        sent_task = asyncio.create_task(produce(infra.kafka_bootstrap, TRIGGERS.name, events, rate=rate))
        arrivals: list[tuple[str, float, str]] = []
        deadline = time.perf_counter() + LATENCY_SECONDS + 120
        while len(arrivals) < expected and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    data = orjson.loads(r.value)["data"]
                    if data["event_id"] in wanted:
                        # One message per event carrying its runs (decision 0028); services from
                        # before it publish one per run, and the bench measures both.
                        for _ in data.get("runs") or (data,):
                            arrivals.append((data["event_id"], now, data["created_at"]))
        sent = await sent_task
        for event_id, arrived, created in arrivals:
            to_record.append(arrived - sent[event_id])
            to_row.append(datetime.fromisoformat(created).timestamp() - sent[event_id])
    finally:
        await consumer.stop()
    if len(arrivals) < expected:
        raise TimeoutError(f"only {len(arrivals)}/{expected} run records arrived")
    return to_row, to_record


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def stack_benchmarks(
    infra: Infra, work: Path
) -> tuple[
    float,
    float,
    int,
    float,
    float,
    dict[int, tuple[list[float], list[float]]],
    list[tuple[float, float, int]],
    dict[str, float],
]:
    service = ServiceProcess("condition-engine", infra, work, PLAYBOOKS_LOG_LEVEL="WARNING")
    await service.start()
    db = create_async_engine(infra.database_url)
    try:
        await service.ready()
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        orgs, latency_orgs = [f"{prefix}-{i}" for i in range(ORGS)], [f"{prefix}-lat-{i}" for i in range(ORGS)]
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            await create_playbooks(client, infra, orgs + latency_orgs)
        # warm up: the consumer has joined and every org's playbooks are compiled
        warm = envelopes(orgs + latency_orgs, 2 * ORGS)
        await produce(infra.kafka_bootstrap, TRIGGERS.name, warm)
        while await count_runs(db, orgs + latency_orgs) < len(warm) * PLAYBOOKS_PER_ORG:
            await asyncio.sleep(0.1)
        base = await count_runs(db, orgs)
        assert base == ORGS * PLAYBOOKS_PER_ORG
        async with db.begin() as conn:  # measure only the bench's events
            await conn.execute(text("DELETE FROM condition_engine.playbook_runs WHERE org_id = ANY(:o)"), {"o": orgs})
        assert service.proc is not None
        cpu_before = process_cpu(service.proc.pid)
        e2e, runs = await end_to_end(infra, db, orgs)
        drained = await drain_outbox(db)
        # the service's CPU for (b)'s events, its outbox relay included (the same process)
        cpu_us = (process_cpu(service.proc.pid) - cpu_before) * 1e6 / N_EVENTS
        sweep: dict[int, tuple[list[float], list[float]]] = {}
        for rate in sorted(set(SWEEP_RATES) | {LATENCY_RATE}):
            sweep[rate] = await latency(infra, latency_orgs, rate)
            await drain_outbox(db)  # each rate from an empty outbox too
            if pct(sweep[rate][0], 99) >= SWEEP_BOUND_MS and rate >= LATENCY_RATE:
                break
        service.stop()  # the baseline gets the machine to itself
        raw = await raw_baseline(infra, db, orgs)
        docs = [await event_json_statements(db, pad) for pad in (0, 2000)]
        copies = await run_row_statements(db)
        return e2e, raw, runs, drained, cpu_us, sweep, docs, copies
    finally:
        service.stop()
        await db.dispose()


def main() -> None:
    compiled, naive = bench_dsl()
    work = Path(tempfile.mkdtemp(prefix="bench-condition-engine-"))
    infra = start_infra(work)
    try:
        e2e, raw, runs, drained, cpu_us, sweep, docs, copies = asyncio.run(stack_benchmarks(infra, work))
    finally:
        infra.close()
    print(f"cores: {os.cpu_count()}; {len(CONDITIONS)} conditions per playbook evaluation")
    print(f"{'(a) naive interpreter (baseline)':<52}{naive:>12,.0f} evaluations/s   1.00x")
    print(
        f"{'(a) compiled conditions (one generated function)':<52}{compiled:>12,.0f} evaluations/s   "
        f"{compiled / naive:.2f}x   aim >= 2x"
    )
    print(f"(b) {N_EVENTS:,} events, {ORGS} orgs x {PLAYBOOKS_PER_ORG} active playbooks = {runs:,} runs")
    print(f"{'(b) raw consume + batched insert (baseline)':<52}{raw:>12,.0f} events/s   1.00x")
    print(
        f"{'(b) triggers.v1 -> committed runs (condition-engine)':<52}{e2e:>12,.0f} events/s   {e2e / raw:.2f}x"
        "   aim >= 1.0x"
    )
    print(f"{'(b) then its outbox backlog relayed, before (c)':<52}{drained:>12,.1f} s")
    print(f"{'(b) condition-engine CPU per event (relay included)':<52}{cpu_us:>12,.0f} us")
    to_row, to_record = sweep[LATENCY_RATE]
    print(f"(c) at {LATENCY_RATE:,} events/s for {LATENCY_SECONDS} s ({len(to_record):,} runs):")
    print(
        f"{'    publish -> run row written':<52}p50 {pct(to_row, 50):7.1f} ms   p99 {pct(to_row, 99):7.1f} ms"
        "   aim p99 < 100 ms"
    )
    print(
        f"{'    publish -> run record on playbook-runs.v1':<52}p50 {pct(to_record, 50):7.1f} ms   "
        f"p99 {pct(to_record, 99):7.1f} ms"
    )
    for rate, (rows_s, records_s) in sorted(sweep.items()):
        print(
            f"{f'    {rate:,} events/s: publish -> row':<52}p50 {pct(rows_s, 50):7.1f} ms   "
            f"p99 {pct(rows_s, 99):7.1f} ms   (-> record p99 {pct(records_s, 99):7.1f} ms)"
        )
    under = [rate for rate, (rows_s, _r) in sweep.items() if pct(rows_s, 99) < SWEEP_BOUND_MS]
    highest = max(under, default=0)
    print(f"{'    highest rate tried with p99 publish -> row < 250 ms':<52}{highest:>12,} events/s")
    print("(d) run rows' event JSON, statement time per event of 10 runs (median of alternating rounds):")
    figures = Figures()
    for per_run, per_event, size in docs:
        print(
            f"{f'    {size:,} B event, parsed per run (baseline)':<52}{per_run:>9,.0f} us   1.00x\n"
            f"{f'    {size:,} B event, parsed once per event':<52}{per_event:>9,.0f} us   {per_run / per_event:.2f}x"
        )
        figures.update(
            {
                f"event_json.{size}B.per_run_us": per_run,
                f"event_json.{size}B.per_event_us": per_event,
                f"event_json.{size}B.speedup": per_run / per_event,
            }
        )
    print("(e) 10 narrow run rows per event, per event (median of alternating rounds; wall, and this process's CPU):")
    for kind, label in (("unnest", "INSERT ... SELECT FROM unnest (baseline)"), ("copy", "binary COPY")):
        print(
            f"{f'    {label}':<52}{copies[kind + '_wall_us']:>9,.0f} us   CPU {copies[kind + '_cpu_us']:6,.0f} us   "
            f"{copies['unnest_wall_us'] / copies[kind + '_wall_us']:.2f}x"
        )
    figures.update({f"run_rows.{k}": v for k, v in copies.items()})
    figures.update(
        {
            "dsl.naive_evaluations_per_s": naive,
            "dsl.compiled_evaluations_per_s": compiled,
            "dsl.compiled_vs_naive": compiled / naive,
            "e2e.raw_baseline_events_per_s": raw,
            "e2e.events_per_s": e2e,
            "e2e.vs_raw_baseline": e2e / raw,
            "e2e.outbox_drain_s": drained,
            "e2e.service_cpu_us_per_event": cpu_us,
            "latency.rate_events_per_s": LATENCY_RATE,
            "latency.publish_to_row_p50_ms": pct(to_row, 50),
            "latency.publish_to_row_p99_ms": pct(to_row, 99),
            "latency.publish_to_record_p50_ms": pct(to_record, 50),
            "latency.publish_to_record_p99_ms": pct(to_record, 99),
            "latency.highest_rate_p99_under_250ms": highest,
        }
    )
    figures.write()


if __name__ == "__main__":
    dsl_only() if "--dsl-only" in sys.argv[1:] else main()
