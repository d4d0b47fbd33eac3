"""The compiler service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

from playbooks_platform.service import Runtime, ServiceSpec, create_app

from .process_pool import WorkerPool
from .routes import WORKERS, router
from .service import warm_up_worker
from .settings import CompilerSettings


async def _start_workers(runtime: Runtime[CompilerSettings]) -> None:
    s = runtime.settings
    pool = runtime.state[WORKERS] = WorkerPool(
        workers=s.worker_processes,
        deadline_s=s.worker_deadline_s,
        queue_wait_s=s.worker_queue_wait_s,
        memory_mb=s.worker_memory_mb,
        warm_up=warm_up_worker,
    )
    await pool.start()


async def _stop_workers(runtime: Runtime) -> None:
    pool = runtime.state.pop(WORKERS, None)
    if pool is not None:
        pool.close()


spec = ServiceSpec(
    name="compiler",
    package="compiler",
    description="Compiles prose Markdown TSGs into schema-valid, governed runbooks with a mapping report; "
    "validates runbooks; publishes compiled runbooks to runbooks.compiled.v1 for review.",
    settings_cls=CompilerSettings,
    routers=[router],
    schema=None,
    on_startup=_start_workers,
    on_shutdown=_stop_workers,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory compiler.main:create``."""
    return create_app(spec)
