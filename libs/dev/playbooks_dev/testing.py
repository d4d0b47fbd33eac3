"""Test support shared by every service's tests: the real stack, apps in-process, topic readers.

Nothing here mocks PostgreSQL or Kafka: tests get a real server (the embedded ones, or those the
environment names) and a fresh database per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

from playbooks_platform.auth import issue_token
from playbooks_platform.bus import create_topics
from playbooks_platform.migrations import upgrade
from playbooks_platform.service import Runtime, ServiceSpec, create_app, load_spec
from playbooks_platform.settings import PlatformSettings

from .embedded import EmbeddedBroker, EmbeddedPostgres, drop_database, ensure_database, free_port

# Settings of every service a test starts. The embedded broker ignores LeaveGroup: a member a test
# stopped holds up the next join of its group until its session expires, so sessions are short.
TEST_SETTINGS: dict[str, Any] = {
    "env": "test",
    "log_json": False,
    "consumer_retry_backoff_s": 0.05,
    "consumer_session_timeout_ms": 6000,
}


def fresh_group_prefix(kind: str) -> str:
    """Consumer groups of a test deployment's own (read from the earliest offset; handlers are
    idempotent), so it never waits on, nor takes messages from, another test's services. Tests that
    restart or scale one deployment pass the same prefix to each instance."""
    return f"{kind}-{uuid.uuid4().hex[:8]}-"


@dataclass
class Infra:
    """Where the tests' PostgreSQL database and Kafka broker are."""

    database_url: str
    kafka_bootstrap: str
    _cleanup: list[Callable[[], None]] = field(default_factory=list)
    _migrated: set[str] = field(default_factory=set)

    async def migrate(self, spec: ServiceSpec) -> None:
        """Bring the service's schema up to date, once per session (each test suite needs only its own)."""
        if spec.schema and spec.package not in self._migrated:
            await asyncio.to_thread(upgrade, [spec.package], self.database_url)
            self._migrated.add(spec.package)

    def settings(self, cls: type[PlatformSettings] = PlatformSettings, **overrides: Any) -> PlatformSettings:
        return cls(**(self._values() | overrides))

    def env(self) -> dict[str, str]:
        """The same settings as ``PLAYBOOKS_*`` variables, for a service in a process of its own."""

        def text(v: Any) -> str:
            return str(v).lower() if isinstance(v, bool) else str(v)

        return {f"PLAYBOOKS_{k.upper()}": text(v) for k, v in self._values().items()}

    def _values(self) -> dict[str, Any]:
        return TEST_SETTINGS | {"database_url": self.database_url, "kafka_bootstrap": self.kafka_bootstrap}

    def token(self, org_id: str, user_id: str = "tester", roles: list[str] | None = None) -> str:
        return issue_token(self.settings(), org_id=org_id, user_id=user_id, roles=roles or ["admin"])

    def auth(self, org_id: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(org_id, **kw)}"}

    def close(self) -> None:
        for fn in reversed(self._cleanup):
            with contextlib.suppress(Exception):
                fn()


def start_infra(workdir: Path) -> Infra:
    """Use ``PLAYBOOKS_DATABASE_URL`` / ``PLAYBOOKS_KAFKA_BOOTSTRAP`` when set, else start the embedded ones."""
    cleanup: list[Callable[[], None]] = []
    server = os.environ.get("PLAYBOOKS_DATABASE_URL")
    if not server:
        pg = EmbeddedPostgres(workdir / "postgres", free_port(), durable=False)
        pg.start()
        cleanup.append(pg.stop)
        server = pg.url
    name = f"playbooks_test_{uuid.uuid4().hex[:10]}"
    db_url = asyncio.run(ensure_database(server, name))
    cleanup.append(lambda: asyncio.run(drop_database(server, name)))
    bootstrap = os.environ.get("PLAYBOOKS_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker = EmbeddedBroker(free_port(), workdir / "broker.log")
        broker.start()
        cleanup.append(broker.stop)
        bootstrap = broker.bootstrap
    asyncio.run(create_topics(bootstrap))
    infra = Infra(db_url, bootstrap)
    infra._cleanup = cleanup
    return infra


@contextlib.asynccontextmanager
async def running_service(
    spec: ServiceSpec | str, infra: Infra, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, FastAPI]]:
    """Start a service in-process (lifespan included) and give an HTTP client to it.

    Its files (the data folder: Qdrant Edge's index, caches, run folders) go to a temporary folder of its own
    unless the test names one: never the dev stack's ``.data/``, whose index admits one process at a time."""
    spec = load_spec(spec) if isinstance(spec, str) else spec
    await infra.migrate(spec)
    overrides.setdefault("consumer_group_prefix", fresh_group_prefix("t"))
    with tempfile.TemporaryDirectory(prefix=f"playbooks-{spec.name}-", ignore_cleanup_errors=True) as data_dir:
        overrides.setdefault("data_dir", Path(data_dir))
        settings = infra.settings(spec.settings_cls, service_name=spec.name, **overrides)
        app = create_app(spec, settings)
        async with app.router.lifespan_context(app):
            for runner in app.state.runtime.consumers:
                await runner.wait_started()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
                yield client, app.state.runtime, app


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """An app already started (by ``running_service``) on a real port of this event loop; yields its URL.

    For clients that need a socket: httpx's ASGI transport hands a response over only once it is
    complete, so a stream (server-sent events) or a CLI in another thread needs a real server."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port or free_port(),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def produce(
    bootstrap: str,
    topic: str,
    values: list[Any],
    *,
    key: str | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Publish raw values (bytes as they are, anything else as JSON), as an upstream system would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for v in values:
            data = v if isinstance(v, bytes) else orjson.dumps(v)
            await producer.send(topic, data, key=key.encode() if key else None, headers=headers or [])
        await producer.flush()
    finally:
        await producer.stop()


@dataclass
class Received:
    value: Any
    headers: dict[str, str]
    key: str | None
    partition: int
    offset: int


async def collect(
    bootstrap: str,
    topic: str,
    *,
    where: Callable[[Received], bool] = lambda r: True,
    count: int = 1,
    timeout: float = 20.0,
    settle: float = 0.0,
) -> list[Received]:
    """Read ``topic`` from the beginning until ``count`` matching messages arrived (or time runs out).

    With ``settle``, keep reading that long after reaching ``count``, to catch extra (duplicate) messages.
    """
    # No consumer group: assigning the partitions directly skips the group join (seconds on Tansu).
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    await consumer.topics()  # fetches the metadata partitions_for_topic reads
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    await consumer.seek_to_beginning()
    found: list[Received] = []
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    try:
                        value: Any = orjson.loads(r.value) if r.value else None
                    except orjson.JSONDecodeError:
                        value = r.value
                    rec = Received(
                        value,
                        {k: v.decode() for k, v in (r.headers or ())},
                        r.key.decode() if r.key else None,
                        r.partition,
                        r.offset,
                    )
                    if _matches(where, rec):
                        found.append(rec)
            if len(found) >= count and settle_until is None:
                if not settle:
                    break
                settle_until = time.monotonic() + settle
    finally:
        await consumer.stop()
    return found


def _matches(where: Callable[[Received], bool], rec: Received) -> bool:
    """A message without the shape the filter reads (another test's poison, say) is not a match."""
    try:
        return bool(where(rec))
    except (AttributeError, KeyError, TypeError, IndexError):
        return False


async def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Await ``check()`` until it returns something truthy; fail with its last result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class ServiceProcess:
    """One service as its own ``playbooks serve`` process on the test stack, as in production.

    For end-to-end flows and fault tests: it can be killed (SIGKILL, no goodbye) and started again.
    """

    def __init__(self, name: str, infra: Infra, workdir: Path, **env: str) -> None:
        self.name, self.infra, self.port = name, infra, free_port()
        self.log = workdir / f"{name}.log"
        self.env = (
            os.environ
            | infra.env()
            | {
                "PLAYBOOKS_CONSUMER_GROUP_PREFIX": fresh_group_prefix("proc"),
                # Its own files (an index folder admits one process): never the dev stack's .data/.
                "PLAYBOOKS_DATA_DIR": str(workdir / f"{name}-{self.port}-data"),
            }
            | env
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ServiceProcess:
        await self.infra.migrate(load_spec(self.name))
        cmd = [sys.executable, "-m", "playbooks_platform.cli", "serve", self.name, "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    async def ready(self, timeout: float = 90) -> None:
        """Wait for ``/readyz``: database and broker reachable, consumers joined their groups."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); log: {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; log: {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
