"""Following a run's server-sent events (``GET /v1/runs/{id}/events``) until the run ends, across reconnects."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .client import Api


@dataclass
class Event:
    event: str = "message"
    data: Any = None
    id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse(lines: Iterable[str]) -> Iterator[Event]:
    """Events as the SSE format defines them: fields until a blank line; comments (``:``) skipped."""
    current: dict[str, Any] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield Event(event=current.get("event", "message"), data=value, id=current.get("id"))
            current, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name in ("event", "id"):
            current[name] = value


def follow(
    api: Api,
    run_id: str,
    on_event: Callable[[Event], None],
    *,
    after: int = -1,
    retries: int = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Print-as-you-go until the ``end`` event; returns the run's final status.

    A stream that closes before ``end`` (the server's time limit, a proxy, a dropped connection) is
    reopened with ``Last-Event-ID``: the server sends the records after the last one seen, so none is
    shown twice or missed. ``retries`` consecutive failed connections give up (unreachable)."""
    last = after
    failures = 0
    while True:
        headers = {"Last-Event-ID": str(last)} if last >= 0 else {}
        try:
            with api.stream(f"/v1/runs/{run_id}/events", headers) as response:
                failures = 0
                for event in parse(response.iter_lines()):
                    if event.id is not None and event.id.lstrip("-").isdigit():
                        last = int(event.id)
                    on_event(event)
                    if event.event == "end":
                        return str((event.data or {}).get("status", "unknown"))
            sleep(0.5)  # closed before the end (the server's time limit): reconnect, as an EventSource does
        except httpx.TransportError as exc:
            failures += 1
            if failures > retries:
                raise api.unreachable(exc) from None
            sleep(min(0.5 * 2 ** (failures - 1), 10))
