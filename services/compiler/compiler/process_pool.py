"""CPU-bound compiler work (parsing, compiling, validating) in worker processes, off the event loop.

A thread cannot be stopped, so a job that runs past its deadline would hold its thread and its
share of the GIL until it ended on its own; a process can be killed. Each job runs in one of a
bounded set of processes (forked from a forkserver that has the compiler imported, so a new one
costs milliseconds), under an address-space limit; past the deadline its process is killed and
replaced, so abandoned work never piles up. A new process runs ``warm_up`` before it counts as
started, so the one-time costs of a first job (about 10x a small document's own) are never charged
to a caller's deadline. A request that finds every worker busy waits briefly,
then gets 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from playbooks_platform.errors import DomainError, Invalid, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

_PRELOAD = ["compiler.pipeline", "compiler.service", "playbooks_contracts.documents"]


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn

    def kill(self) -> None:
        """SIGKILL now; wait for the exit in a thread of its own (tearing down a large address
        space takes long enough to stall the event loop: docs/decisions/0005)."""
        with contextlib.suppress(Exception):
            self.process.kill()
        threading.Thread(target=self._reap, name="compiler-worker-reaper", daemon=True).start()

    def _reap(self) -> None:
        with contextlib.suppress(Exception):
            self.process.join(30)
        with contextlib.suppress(Exception):
            self.conn.close()


class _Deadline(Exception):
    pass


class WorkerPool:
    """At most ``workers`` jobs at once, each in a process of its own, each with ``deadline_s``."""

    def __init__(
        self,
        *,
        workers: int,
        deadline_s: float,
        queue_wait_s: float,
        memory_mb: int,
        warm_up: Callable[[], object] | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.workers, self.deadline_s, self.queue_wait_s = workers, deadline_s, queue_wait_s
        self.warm_up, self.start_timeout_s = warm_up, start_timeout_s
        self.memory_bytes = memory_mb << 20
        self._slots = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        # One waiting thread per running job; the slots bound them.
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compiler-worker")
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    async def run(self, fn: Callable[..., T], /, *args: Any, deadline_s: float | None = None, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker: its result, the domain error it raised, 422 past the
        deadline (``deadline_s``, else the pool's) or over the memory limit, 503 when every worker
        stayed busy. Results should be small or bytes: unpickling holds the GIL."""
        deadline = deadline_s or self.deadline_s
        try:
            if self._slots.locked():
                await asyncio.wait_for(self._slots.acquire(), self.queue_wait_s)
            else:  # free now (no await between the test and the taking)
                await self._slots.acquire()
        except TimeoutError:
            retry = max(1, round(self.deadline_s))
            raise Unavailable(
                f"all {self.workers} compiler workers are busy; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            ) from None
        worker: _Worker | None = None
        done = False
        loop = asyncio.get_running_loop()
        try:
            started = self._idle.pop() if self._idle else await loop.run_in_executor(self._threads, self._start)
            worker = started
            outcome = await loop.run_in_executor(self._threads, self._call, started, (fn, args, kwargs), deadline)
            done = True
        except _Deadline:
            raise Invalid(
                f"the document took longer than the limit of {deadline:g} s to process; make it smaller"
            ) from None
        except (EOFError, OSError):
            # The process died under the job: the address-space limit, or the C stack of a parser.
            code = worker.process.exitcode if worker is not None else None
            raise Invalid(
                f"processing the document exceeded the worker's limits (memory {self.memory_bytes >> 20} MB); "
                f"make it smaller (worker exit code {code})"
            ) from None
        finally:
            if worker is not None:
                if done:
                    self._idle.append(worker)
                else:  # past the deadline, dead, or the caller went away: never reuse it
                    worker.kill()
            self._slots.release()
        status, value = outcome
        if status == "ok":
            return value
        if status == "domain":
            raise value
        if status == "memory":
            raise Invalid(
                f"processing the document needed more than the worker's memory limit of {self.memory_bytes >> 20} MB; "
                "make it smaller"
            )
        raise RuntimeError(f"compiler worker failed: {value}")

    async def start(self) -> None:
        """Start every worker now (the forkserver with them), so no request pays for it."""
        loop = asyncio.get_running_loop()
        started = await asyncio.gather(*(loop.run_in_executor(self._threads, self._start) for _ in range(self.workers)))
        self._idle.extend(started)

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.memory_bytes, self.warm_up), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        # Started means warmed: the deadline of the job that follows counts that job alone.
        try:
            ready = parent.poll(self.start_timeout_s) and parent.recv() == _READY
        except (EOFError, OSError):  # died while warming up
            ready = False
        if not ready:
            worker.kill()
            raise Unavailable(f"a compiler worker did not start within {self.start_timeout_s:g} s; retry")
        return worker

    def _call(
        self, worker: _Worker, job: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]], deadline: float
    ) -> tuple[str, Any]:
        worker.conn.send(job)
        if not worker.conn.poll(deadline):
            raise _Deadline
        return worker.conn.recv()

    def close(self) -> None:
        for worker in self._idle:
            worker.kill()
        self._idle.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)


_READY = "ready"


def _serve(conn: Connection, memory_bytes: int, warm_up: Callable[[], object] | None) -> None:
    """A worker's loop: warm up, say so, then one job at a time until the pipe closes."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # Below the service's own priority: on a busy host the event loop gets the CPU first.
    os.nice(10)
    if warm_up is not None:
        try:
            warm_up()
        except Exception:  # a first job pays for it instead; the worker still serves
            log.exception("compiler worker warm-up failed")
    conn.send(_READY)
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except EOFError:
            return
        try:
            outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except DomainError as exc:
            outcome = ("domain", exc)
        except MemoryError:
            outcome = ("memory", None)
        except RecursionError:
            outcome = ("domain", Invalid("the document is nested too deeply to process"))
        except Exception as exc:
            log.exception("compiler job failed")
            outcome = ("error", repr(exc)[:500])
        try:
            conn.send(outcome)
        except MemoryError:
            conn.send(("memory", None))


__all__ = ["WorkerPool"]
