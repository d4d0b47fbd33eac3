"""Soak: sustained mixed load on the whole platform, every service its own process.

`make soak` (not in CI). SOAK_SECONDS (default 60) and SOAK_RATE (operations per second per
load kind, default 50) set the load. Prints per operation: count, throughput, p50/p99 latency and
errors; then each consumer group's lag at the end of the load and after a drain of up to 30 s.
Copy the figures into docs/reliability.md with the machine they came from.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from playbooks_contracts.topics import UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, ServiceProcess, start_infra
from playbooks_platform.figures import Figures
from playbooks_platform.service import installed_services, load_spec

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
RATE = float(os.environ.get("SOAK_RATE", "50"))
ORGS = [f"soak-{uuid.uuid4().hex[:6]}-{i}" for i in range(8)]

Operation = Callable[[], Awaitable[None]]
# All processes share one deployment's consumer groups, so lag is read from the groups they joined.
GROUP_PREFIX = f"soak-{uuid.uuid4().hex[:6]}-"
RUNBOOK = {
    "apiVersion": "runbook/v0",
    "meta": {"name": "soak", "governance": {"allowed_commands": ["df"]}},
    "steps": [{"id": "disk", "type": "cli", "with": {"argv": ["df", "-h"]}}],
}
TSG = "# Disk full\n\n## Check\n\n```bash\nkubectl get pods -n <namespace>\ndf -h\n```\n\n1. Check the dashboard.\n"


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.last_error: dict[str, str] = {}

    async def run(self, name: str, op: Operation) -> None:
        start = time.perf_counter()
        try:
            await op()
        except Exception as exc:
            self.errors[name] += 1
            self.last_error[name] = f"{type(exc).__name__}: {exc}"[:160]
        else:
            self.latency[name].append(time.perf_counter() - start)


def activity(org: str) -> dict:
    return {"activity": {"type": random.choice(["contract_signed", "deck_viewed"]), "doc_id": uuid.uuid4().hex}}


def operations(infra: Infra, urls: dict[str, str], producer: AIOKafkaProducer) -> dict[str, Operation]:
    """One operation per load kind, for the services that are installed."""
    http = httpx.AsyncClient(timeout=30)
    ops: dict[str, Operation] = {}

    def org_call(method: str, url: str, **kw: object) -> Operation:
        async def op() -> None:
            org = random.choice(ORGS)
            r = await http.request(method, url, headers=infra.auth(org), **kw)  # type: ignore[arg-type]
            if r.status_code >= 400:
                raise RuntimeError(f"{r.status_code} {r.text[:100]}")

        return op

    if "trigger-ingest" in urls:
        base = urls["trigger-ingest"]

        async def single() -> None:
            org = random.choice(ORGS)
            r = await http.post(f"{base}/v1/events/activity_event", json=activity(org), headers=infra.auth(org))
            r.raise_for_status()

        async def batch() -> None:
            org = random.choice(ORGS)
            body = {"events": [{"trigger": "activity_event", **activity(org)} for _ in range(100)]}
            r = await http.post(f"{base}/v1/events:batch", json=body, headers=infra.auth(org))
            r.raise_for_status()

        async def upstream() -> None:
            org = random.choice(ORGS)
            await producer.send_and_wait(
                UPSTREAM_ACTIVITY_EVENTS.name,
                orjson.dumps({"orgId": org, **activity(org)}),
                key=org.encode(),
            )

        ops |= {"ingest: POST one event": single, "ingest: POST 100 events": batch, "ingest: upstream topic": upstream}
    if "condition-engine" in urls:
        ops["condition-engine: list runs"] = org_call("GET", f"{urls['condition-engine']}/api/playbook-runs")
    if "exception-playbook" in urls:
        ops["exception-playbook: new exception"] = org_call(
            "POST",
            f"{urls['exception-playbook']}/api/exceptions",
            json={"domain": "Finance", "exception_type": "late_payment", "severity": "high"},
        )
    if "recommendation-agent" in urls:
        ops["recommendation-agent: search"] = org_call(
            "POST",
            f"{urls['recommendation-agent']}/api/playbook/search",
            json={"query": "Stop production RDS for weekend", "limit": 5},
        )
    if "runbook-runtime" in urls:
        ops["runbook-runtime: dry-run"] = org_call(
            "POST", f"{urls['runbook-runtime']}/v1/runs", json={"runbook": RUNBOOK, "mode": "dry-run"}
        )
    if "compiler" in urls:
        ops["compiler: compile a TSG"] = org_call("POST", f"{urls['compiler']}/api/compile", json={"markdown": TSG})
    return ops


async def drive(ops: dict[str, Operation], recorder: Recorder) -> None:
    """Open-loop: each kind starts RATE operations a second, whatever the latency."""
    deadline = time.monotonic() + SECONDS
    pending: set[asyncio.Task[None]] = set()

    async def kind(name: str, op: Operation) -> None:
        interval = 1 / RATE
        next_at = time.monotonic()
        while next_at < deadline:
            task = asyncio.create_task(recorder.run(name, op))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(kind(n, op) for n, op in ops.items()))
    if pending:
        await asyncio.wait(pending, timeout=30)


async def lag(bootstrap: str, groups: list[str], topics: dict[str, list[str]]) -> dict[str, int]:
    """Messages each consumer group has yet to handle (end offsets minus committed offsets)."""
    result = {}
    for group in groups:
        # A consumer with the group's id that never joins: it only reads the group's committed offsets.
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await reader.start()
        try:
            await reader.topics()
            tps = [TopicPartition(t, p) for t in topics[group] for p in reader.partitions_for_topic(t) or ()]
            ends = await reader.end_offsets(tps)
            total = 0
            for tp in tps:
                committed = await reader.committed(tp)
                # Tansu can report an end offset below a committed one (it rounds to a batch): clamp.
                total += max(ends[tp] - (committed or 0), 0)
            result[group] = total
        finally:
            await reader.stop()
    return result


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) >= 2 else float("nan")


async def soak(infra: Infra, processes: dict[str, ServiceProcess]) -> None:
    for proc in processes.values():
        await proc.start()
    for proc in processes.values():
        await proc.ready()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    recorder = Recorder()
    topics = {
        GROUP_PREFIX + c.group: [t.name for t in c.topics] for name in processes for c in load_spec(name).consumers
    }
    groups = list(topics)
    try:
        ops = operations(infra, {n: p.url for n, p in processes.items()}, producer)
        started = time.monotonic()
        await drive(ops, recorder)
        elapsed = time.monotonic() - started
        lag_end = await lag(infra.kafka_bootstrap, groups, topics)
        drain_start = time.monotonic()
        lag_drained = lag_end
        while any(lag_drained.values()) and time.monotonic() - drain_start < 30:
            await asyncio.sleep(1)
            lag_drained = await lag(infra.kafka_bootstrap, groups, topics)
        drained_in = time.monotonic() - drain_start
    finally:
        await producer.stop()

    print(f"soak: {elapsed:.0f} s, {RATE:g} operations/s per kind, {len(processes)} services, {os.cpu_count()} cores")
    print(f"{'operation':<36}{'count':>8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in ops:
        lat = recorder.latency[name]
        print(
            f"{name:<36}{len(lat):>8}{len(lat) / elapsed:>9.1f}{pct(lat, 50):>9.1f}{pct(lat, 99):>9.1f}"
            f"{recorder.errors[name]:>8}"
        )
    for name, error in recorder.last_error.items():
        print(f"  last error of {name}: {error}")
    print(f"{'consumer group':<36}{'lag at end':>12}{'after drain':>13}")
    for group in groups:
        print(f"{group:<36}{lag_end[group]:>12}{lag_drained[group]:>13}")
    print(f"drained in {drained_in:.1f} s")
    figures = Figures()
    figures.add("elapsed_s", elapsed)
    for name in ops:
        lat = recorder.latency[name]
        figures.update({f"{name}.ops_per_s": len(lat) / elapsed, f"{name}.errors": recorder.errors[name]})
        if len(lat) >= 2:  # fewer: no percentile (printed as nan, left out of the JSON)
            figures.update({f"{name}.p50_ms": pct(lat, 50), f"{name}.p99_ms": pct(lat, 99)})
    for group in groups:
        figures.update({f"lag.{group}.at_end": lag_end[group], f"lag.{group}.after_drain": lag_drained[group]})
    figures.add("drained_in_s", drained_in)
    figures.write()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    infra = start_infra(work)
    processes = {
        name: ServiceProcess(
            name, infra, work, PLAYBOOKS_LOG_LEVEL="WARNING", PLAYBOOKS_CONSUMER_GROUP_PREFIX=GROUP_PREFIX
        )
        for name in installed_services()
    }
    try:
        asyncio.run(soak(infra, processes))
    finally:
        for proc in processes.values():
            proc.stop()
        infra.close()
        print(f"service logs in {work}")


if __name__ == "__main__":
    main()
