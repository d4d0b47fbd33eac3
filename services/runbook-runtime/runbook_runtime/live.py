"""A run as it happens: the server-sent events of ``GET /v1/runs/{id}/events`` and what wakes them.

Every trace record is one event (``id`` its 0-based place in the run's trace, ``event`` its kind,
``data`` the record as ``/trace`` returns it); a change of status or current step is an ``status``
event; the end of the run is an ``end`` event, after which the stream closes. A client that
reconnects with ``Last-Event-ID`` gets the records after that place: nothing twice, nothing missed.

A waiting stream holds no database connection and no thread: it waits on an ``asyncio.Event``
that this process sets when it writes the run (``RunWatch.notify``, called by the flows), and
that a poller sets when the run's ``updated_at`` moved (another replica or a worker process wrote
it). The poller makes one query per org per ``event_stream_recheck_seconds`` for every run watched
in this process, however many streams watch it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from playbooks_platform.db import Database
from playbooks_platform.errors import Invalid, NotFound, TooManyRequests

from .models import runs, trace_events
from .service import ENDED
from .settings import RunbookRuntimeSettings

log = logging.getLogger(__name__)

# A stream ends at these: an ended run accepts nothing more, and a dry-run only ever holds its plan.
FINAL = ENDED | {"planned"}
# Trace records read per query: a long trace is sent in pieces, never loaded whole.
BATCH = 500
MEDIA_TYPE = "text/event-stream"

Key = tuple[str, str]  # (org_id, run_id)


class RunWatch:
    """The process's open streams: their bounds, what wakes them, and the poller for other writers."""

    def __init__(self, database: Database, settings: RunbookRuntimeSettings) -> None:
        self.database, self.settings = database, settings
        self._changed: dict[Key, asyncio.Event] = {}
        self._watching: Counter[Key] = Counter()
        self._per_org: Counter[str] = Counter()
        self._stamps: dict[Key, Any] = {}
        self._poller: asyncio.Task[None] | None = None

    @property
    def open_streams(self) -> int:
        return sum(self._per_org.values())

    def acquire(self, org_id: str) -> None:
        """Count one more stream for the org, or 429 when the org or the process is at its bound."""
        s = self.settings
        if self._per_org[org_id] >= s.event_streams_per_org:
            raise TooManyRequests(
                f"this org already holds {self._per_org[org_id]} open run event streams, the most allowed "
                f"(PLAYBOOKS_EVENT_STREAMS_PER_ORG); close one, or poll GET /v1/runs/{{id}} instead",
                headers={"Retry-After": "5"},
            )
        if self.open_streams >= s.event_streams_max:
            raise TooManyRequests(
                f"this service holds {self.open_streams} open run event streams, the most it serves "
                "(PLAYBOOKS_EVENT_STREAMS_MAX); retry shortly, or poll GET /v1/runs/{id} instead",
                headers={"Retry-After": "5"},
            )
        self._per_org[org_id] += 1

    def release(self, org_id: str) -> None:
        self._per_org[org_id] -= 1
        if self._per_org[org_id] <= 0:
            del self._per_org[org_id]

    def changed(self, key: Key) -> asyncio.Event:
        """The event the next change of the run sets: take it *before* reading, so no change is missed."""
        event = self._changed.get(key)
        if event is None:
            event = self._changed[key] = asyncio.Event()
        return event

    def notify(self, org_id: str, run_id: str) -> None:
        """The run was written: wake its streams (each reads what is new)."""
        event = self._changed.pop((org_id, run_id), None)
        if event is not None:
            event.set()

    def watch(self, key: Key) -> None:
        self._watching[key] += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="run-events-poller")

    def unwatch(self, key: Key) -> None:
        self._watching[key] -= 1
        if self._watching[key] <= 0:
            del self._watching[key]
            self._stamps.pop(key, None)
            self._changed.pop(key, None)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def _poll(self) -> None:
        """While anything is watched: wake the streams of runs whose row changed since last seen."""
        while self._watching:
            await asyncio.sleep(self.settings.event_stream_recheck_seconds)
            by_org: dict[str, list[str]] = {}
            for org_id, run_id in list(self._watching):
                by_org.setdefault(org_id, []).append(run_id)
            for org_id, run_ids in by_org.items():
                try:
                    async with self.database.tenant_transaction(org_id) as session:
                        query = sa.select(runs.c.run_id, runs.c.updated_at, runs.c.status).where(
                            runs.c.org_id == org_id, runs.c.run_id.in_(run_ids)
                        )
                        stamps = {r.run_id: (r.updated_at, r.status) for r in await session.execute(query)}
                except Exception as exc:  # the database away: streams keep their keepalives, and retry here
                    log.warning("run events: cannot check runs for changes", extra={"error": str(exc)[:200]})
                    continue
                for run_id, stamp in stamps.items():
                    key = (org_id, run_id)
                    # a first sighting wakes too: the run may have changed between a stream's read and now
                    if key in self._watching and self._stamps.get(key) != stamp:
                        self._stamps[key] = stamp
                        self.notify(org_id, run_id)


def run_watch(runtime_state: dict[str, Any], database: Database, settings: RunbookRuntimeSettings) -> RunWatch:
    watch: RunWatch | None = runtime_state.get("run_watch")
    if watch is None:
        watch = runtime_state["run_watch"] = RunWatch(database, settings)
    return watch


def notify(runtime_state: dict[str, Any], org_id: str, run_id: str) -> None:
    """Wake the streams of a run this process just wrote (nothing to do when nobody watches)."""
    watch = runtime_state.get("run_watch")
    if watch is not None:
        watch.notify(org_id, run_id)


def resume_after(last_event_id: str | None, after: int | None) -> int:
    """The place of the last record the client has (-1: none); ``Last-Event-ID`` wins over ``?after=``."""
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.lstrip("-").isdigit() or int(text) < -1:
            raise Invalid(f"Last-Event-ID {text[:40]!r} is not an event id of this stream (an integer from -1)")
        return int(text)
    return -1 if after is None else after


def frame(data: Any, *, event: str, id_: int | None = None) -> bytes:
    """One SSE event; the JSON is one line (json escapes newlines inside strings)."""
    head = f"id: {id_}\n" if id_ is not None else ""
    body = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


def _kind(record: Any) -> str:
    kind = record.get("event") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) and kind and kind.isprintable() and ":" not in kind else "record"


async def check_run(database: Database, org_id: str, run_id: str) -> None:
    async with database.tenant_transaction(org_id) as session:
        found = await session.execute(sa.select(runs.c.run_id).where(runs.c.org_id == org_id, runs.c.run_id == run_id))
        if found.first() is None:
            raise NotFound(f"no run {run_id} in this org")


async def _read(
    database: Database, org_id: str, run_id: str, *, after: int, last_id: int | None
) -> tuple[Any, list[Any]]:
    """(the run's status row, the next trace records). The status is read first: the records read after it
    include everything written with it, so ``end`` never comes before the run's last records."""
    async with database.tenant_transaction(org_id) as session:
        run = (
            await session.execute(
                sa.select(runs.c.status, runs.c.current_step).where(runs.c.org_id == org_id, runs.c.run_id == run_id)
            )
        ).first()
        if run is None:
            raise NotFound(f"no run {run_id} in this org")
        query = sa.select(trace_events.c.id, trace_events.c.event).where(
            trace_events.c.org_id == org_id, trace_events.c.run_id == run_id
        )
        if last_id is not None:
            query = query.where(trace_events.c.id > last_id).order_by(trace_events.c.id)
        else:
            query = query.order_by(trace_events.c.id).offset(after + 1)
        records = list((await session.execute(query.limit(BATCH))).all())
    return run, records


async def events(watch: RunWatch, org_id: str, run_id: str, after: int) -> AsyncIterator[bytes]:
    """The stream's bytes, from the record after ``after`` to the run's end (or the stream's time limit)."""
    s = watch.settings
    key = (org_id, run_id)
    started = time.monotonic()
    last_sent = started
    sent_status: tuple[str, str | None] | None = None
    last_id: int | None = None
    index = after
    watch.watch(key)
    try:
        # how long the client waits before reconnecting after a close that is not the end
        yield b"retry: 2000\n\n"
        while True:
            changed = watch.changed(key)
            try:
                run, records = await _read(watch.database, org_id, run_id, after=index, last_id=last_id)
            except NotFound:
                yield frame({"status": "gone"}, event="end")
                return
            except Exception as exc:  # the database away: close; the client resumes with Last-Event-ID
                log.warning("run events: read failed, closing the stream", extra={"error": str(exc)[:200]})
                return
            chunk = []
            for row_id, record in records:
                index += 1
                last_id = row_id
                chunk.append(frame(record, event=_kind(record), id_=index))
            if len(records) == BATCH:  # more to read at once; the status comes with the last piece
                yield b"".join(chunk)
                last_sent = time.monotonic()
                continue
            status = (run.status, run.current_step)
            if status != sent_status:
                sent_status = status
                chunk.append(frame({"status": run.status, "current_step": run.current_step}, event="status"))
            if run.status in FINAL:
                chunk.append(frame({"status": run.status}, event="end"))
                yield b"".join(chunk)
                return
            if chunk:
                yield b"".join(chunk)
                last_sent = time.monotonic()
            while True:
                now = time.monotonic()
                left = s.event_stream_max_seconds - (now - started)
                if left <= 0:
                    return  # the client reconnects with Last-Event-ID
                keepalive_in = s.event_stream_keepalive_seconds - (now - last_sent)
                if keepalive_in <= 0:
                    yield b": keepalive\n\n"
                    last_sent = time.monotonic()
                    continue
                try:
                    await asyncio.wait_for(changed.wait(), timeout=min(left, keepalive_in))
                    break
                except TimeoutError:
                    continue
    finally:
        watch.unwatch(key)


class EventStreamResponse(StreamingResponse):
    """Streams run events; the stream's slot is given back however the response ends (done, client gone,
    error), even when the stream never started."""

    media_type = MEDIA_TYPE

    def __init__(self, content: AsyncIterator[bytes], *, release: Callable[[], None], **kw: Any) -> None:
        super().__init__(content, **kw)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


async def open_stream(watch: RunWatch, org_id: str, run_id: str, after: int) -> EventStreamResponse:
    """404 for a run the org does not have, 429 past the bounds; else the stream (its slot counted)."""
    watch.acquire(org_id)  # first: an org at its bound costs the database nothing more
    try:
        await check_run(watch.database, org_id, run_id)
    except BaseException:
        watch.release(org_id)
        raise
    return EventStreamResponse(
        events(watch, org_id, run_id, after),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        release=functools.partial(watch.release, org_id),
    )
