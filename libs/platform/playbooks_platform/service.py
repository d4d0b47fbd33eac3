"""One bootstrap for every service: logging, tracing, database, bus, consumers, HTTP app.

A service declares a ``ServiceSpec`` (its routers, consumers, background tasks, schema) and
registers it under the ``playbooks.services`` entry point; ``create_app`` turns it into a
FastAPI app whose lifespan starts and stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Annotated, Any, Generic

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import BaseModel
from typing_extensions import TypeVar

from playbooks_contracts import Envelope, Topic
from playbooks_contracts.runbook import RUNBOOK_SCHEMA_PATH, runbook_json_schema

from .auth import CurrentPrincipal, TokenVerifier
from .backoff import jittered
from .bus import ConsumerRunner, Publisher
from .bus.consumer import Handler
from .db import Database
from .hardening import set_not_dumpable
from .logging import setup_logging
from .metrics import Metrics
from .middleware import BodyLimitMiddleware, ObservedRequests
from .outbox import OutboxRelay
from .permissions import document_permissions, permissions_of
from .problems import document_problems, install_problem_handlers
from .settings import PlatformSettings
from .telemetry import setup_tracing

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "playbooks.services"
# Probes and scrapes: counted, never traced (a span every few seconds per replica says nothing).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# A service's settings class: its runtime, spec and handlers are typed by it, so nothing casts
# ``runtime.settings``. Covariant: a function taking any service's runtime takes this one's.
S = TypeVar("S", bound=PlatformSettings, default=PlatformSettings, covariant=True)
# The model a consumer's topics carry (``Envelope`` for the platform's own topics).
M = TypeVar("M", bound=BaseModel, default=Envelope)


@dataclass
class ConsumerSpec(Generic[S, M]):
    """A consumer group of a service: which topics, and the batch handler built at start-up."""

    group: str
    topics: Sequence[Topic[M]]
    handler: Callable[[Runtime[S]], Handler[M]]
    # Handle different partitions' batches concurrently. Only for handlers that are safe to run
    # beside themselves (no shared mutable state, idempotency enforced by the database).
    concurrent_partitions: bool = False


@dataclass
class ServiceSpec(Generic[S]):
    name: str
    package: str
    settings_cls: type[S]  # a PlatformSettings subclass; every route, handler and job is typed by it
    routers: Sequence[APIRouter] = ()
    schema: str | None = None  # its PostgreSQL schema; None for a service without a database
    outbox: bool = False
    consumers: Sequence[ConsumerSpec[S, Any]] = ()
    background: Sequence[Callable[[Runtime[S]], Coroutine[Any, Any, None]]] = ()
    on_startup: Callable[[Runtime[S]], Awaitable[None]] | None = None
    on_shutdown: Callable[[Runtime[S]], Awaitable[None]] | None = None
    description: str = ""
    version: str = "0.1.0"


@dataclass
class Runtime(Generic[S]):
    """Everything a running service holds; reachable from routes as ``RuntimeDep``.

    ``Runtime[MySettings]`` in a service's own functions types ``runtime.settings``; routes take
    the settings alone with the service's ``SettingsDep``.
    """

    spec: ServiceSpec[S]
    settings: S
    metrics: Metrics
    verifier: TokenVerifier
    publisher: Publisher
    db: Database | None = None
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # service-specific singletons

    @property
    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError(f"{self.spec.name} has no database")
        return self.db

    def consumer(self, spec: ConsumerSpec[S, Any]) -> ConsumerRunner:
        s = self.settings
        return ConsumerRunner(
            bootstrap=s.kafka_bootstrap,
            group_id=s.consumer_group_prefix + spec.group,
            topics=spec.topics,
            handler=spec.handler(self),
            publisher=self.publisher,
            metrics=self.metrics,
            max_batch=s.consumer_max_batch,
            max_attempts=s.consumer_max_attempts,
            backoff_s=s.consumer_retry_backoff_s,
            client_id=f"{self.spec.name}-{spec.group}",
            concurrent_partitions=spec.concurrent_partitions,
            session_timeout_ms=s.consumer_session_timeout_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            max_partition_fetch_bytes=s.consumer_max_partition_fetch_bytes,
            lag_interval_s=s.consumer_lag_interval_s,
        )


async def get_runtime(request: Request) -> Runtime[Any]:
    # async, though it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread pool,
    # a thread hop per request for an attribute read.
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


# Any service's runtime: a route passes it on to its service's functions (typed ``Runtime[MySettings]``)
# and reads its settings through the service's ``SettingsDep``, never ``runtime.settings``.
RuntimeDep = Annotated[Runtime[Any], Depends(get_runtime)]


def load_spec(name: str) -> ServiceSpec[Any]:
    """The spec a service registered under its name."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            spec = ep.load()
            return spec() if callable(spec) and not isinstance(spec, ServiceSpec) else spec
    raise LookupError(f"no service named {name!r} is installed (entry point group {ENTRY_POINT_GROUP})")


def installed_services() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def create_app(spec: ServiceSpec[S], settings: S | None = None) -> FastAPI:
    settings = settings or spec.settings_cls(service_name=spec.name)
    setup_logging(spec.name, settings.log_level, settings.log_json)
    setup_tracing(spec.name, console=settings.trace_console)
    metrics = Metrics(spec.name, spec.version)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # before anything runs: a command the service starts must not read its environment through /proc
        if not set_not_dumpable():
            log.warning("could not make the process non-dumpable: its /proc entries stay readable to its user")
        runtime = Runtime[S](
            spec=spec,
            settings=settings,
            metrics=metrics,
            verifier=TokenVerifier(settings),
            publisher=Publisher(settings.kafka_bootstrap, client_id=spec.name, metrics=metrics),
        )
        app.state.runtime = runtime
        tasks, jobs = await _start(runtime)
        log.info("service started", extra={"role": settings.role, "consumers": len(runtime.consumers)})
        # Everything loaded so far lives as long as the process: keep it out of the cyclic GC's
        # full scans. A consumer's batch allocates objects by the ten thousand, nearly all freed by
        # reference counting; at Python's default of a young collection every 700, those
        # collections were a real share of a busy consumer's time (docs/decisions/0005).
        gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])
        gc.freeze()
        try:
            yield
        finally:
            await _stop(runtime, tasks, jobs)

    app = FastAPI(
        title=spec.name,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        # HTTP telemetry is ObservedRequests' (one SERVER span, Prometheus metrics): FastAPI's own would
        # add a second SERVER span and three INTERNAL spans per request once a tracer is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    document_problems(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=False,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(ObservedRequests, metrics=metrics, untraced=UNTRACED_PATHS)
    app.include_router(_ops_router())
    for router in spec.routers:
        app.include_router(router)
    document_permissions(app)
    _instrument_http_clients()
    return app


async def _start(runtime: Runtime) -> tuple[list[asyncio.Task[None]], list[asyncio.Task[None]]]:
    """Database, broker, the service's start-up hook, then (tasks, jobs): the outbox relay and, in a
    worker, the consumers (stopped gracefully), and the background loops (cancelled)."""
    spec, settings = runtime.spec, runtime.settings
    tasks: list[asyncio.Task[None]] = []  # stopped gracefully: consumers and relay
    jobs: list[asyncio.Task[None]] = []  # background loops: cancelled
    if spec.schema:
        runtime.db = Database(settings.async_database_url, pool_size=settings.db_pool_size, application_name=spec.name)
        _instrument_db(runtime.db)
    await _start_with_retry(runtime.publisher.start, "broker")
    if spec.on_startup:
        await spec.on_startup(runtime)
    if spec.outbox and runtime.db is not None:
        runtime.relay = OutboxRelay(runtime.db, runtime.publisher, spec.schema or "")
        tasks.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
    if settings.runs_worker:
        for consumer_spec in spec.consumers:
            runner = runtime.consumer(consumer_spec)
            runtime.consumers.append(runner)
            tasks.append(asyncio.create_task(runner.run(), name=f"consumer-{consumer_spec.group}"))
        for job in spec.background:
            jobs.append(asyncio.create_task(job(runtime), name=getattr(job, "__name__", "background")))
    return tasks, jobs


async def _stop(runtime: Runtime, tasks: list[asyncio.Task[None]], jobs: list[asyncio.Task[None]]) -> None:
    """Consumers and relay stop after their current batch (10 s at most), background loops are
    cancelled, then the shutdown hook, the broker and the database."""
    for runner in runtime.consumers:
        runner.stop()
    if runtime.relay:
        runtime.relay.stop()
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    done, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception():
            log.error("task ended with an error", exc_info=task.exception())
    if runtime.spec.on_shutdown:
        await runtime.spec.on_shutdown(runtime)
    await runtime.publisher.stop()
    if runtime.db:
        await runtime.db.dispose()
    log.info("service stopped")


class SchemaResponse(JSONResponse):
    media_type = "application/schema+json"


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database, broker and consumers are working",
        responses={503: {"description": "Not ready; the body says which check failed"}},
    )
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        checks: dict[str, str] = {}
        if runtime.db is not None:
            checks["database"] = await _check(runtime.db.ping())
        checks["broker"] = await _check(runtime.publisher.ping())
        for runner in runtime.consumers:
            if not runner.healthy:
                checks[f"consumer:{runner.group_id}"] = runner.last_error or "unhealthy"
            else:
                checks[f"consumer:{runner.group_id}"] = "ok" if runner.joined else "joining the consumer group"
        if runtime.relay is not None:
            checks["outbox"] = "ok" if runtime.relay.healthy else "cannot relay"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    @router.get("/whoami", summary="The caller: org, user, roles and the permissions they grant")
    async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        # The console shows only what the signed-in person may do; it asks here, never decodes roles itself.
        return {
            "org_id": principal.org_id,
            "user_id": principal.user_id,
            "roles": sorted(principal.roles),
            "permissions": sorted(p.value for p in permissions_of(principal.roles)),
        }

    @router.get(
        RUNBOOK_SCHEMA_PATH,
        summary="The runbook JSON Schema (its $id resolves here)",
        response_class=SchemaResponse,
        responses={200: {"content": {SchemaResponse.media_type: {"schema": {"type": "object"}}}}},
    )
    async def runbook_schema() -> SchemaResponse:
        # Editors fetch it from a running platform: the compiled runbooks' yaml-language-server line names it.
        return SchemaResponse(runbook_json_schema())

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(runtime: RuntimeDep) -> Response:
        if runtime.relay is not None:
            # Read at scrape time (one count on a table kept near empty); a database that does not
            # answer leaves the last figures and shows up in /readyz instead.
            with contextlib.suppress(Exception):
                rows, age = await asyncio.wait_for(runtime.relay.backlog(), 2.0)
                runtime.metrics.outbox_backlog(runtime.relay.schema).set(rows)
                runtime.metrics.outbox_age(runtime.relay.schema).set(age)
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return router


async def _check(probe: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(probe, 2.0)
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200] or "failed"


async def _start_with_retry(start: Callable[[], Awaitable[None]], what: str, attempts: int = 30) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning(f"waiting for the {what}", extra={"error": str(exc), "attempt": attempt})
            await asyncio.sleep(jittered(min(0.2 * attempt, 2.0)))


def _instrument_http_clients() -> None:
    """A CLIENT span for each call a service makes over HTTP (its server side: ``ObservedRequests``)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument()


def _instrument_db(db: Database) -> None:
    from opentelemetry import metrics
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    # One tracer per engine: SQLAlchemyInstrumentor().instrument(engine=...) only takes the first
    # engine of a process, and a process can hold several (tests, tools running services in-process).
    meter = metrics.get_meter("playbooks.db")
    usage = meter.create_up_down_counter("db.client.connections.usage", unit="connections")
    EngineTracer(trace.get_tracer("opentelemetry.instrumentation.sqlalchemy"), db.engine.sync_engine, usage)
