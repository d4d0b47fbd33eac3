"""Structured JSON logs that carry the current trace and span ids."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_LEVEL_COLOURS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}


class ConsoleFormatter(logging.Formatter):
    """One readable line per record for a person at a terminal: time, level, service, message, then
    the structured fields as ``key=value`` (the same fields the JSON lines carry)."""

    def __init__(self, service: str, colour: bool = False) -> None:
        super().__init__()
        self.service, self.colour = service, colour

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"\033[{_LEVEL_COLOURS.get(record.levelname, '0')}m{level}\033[0m"
        fields = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")}
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            fields["trace"] = format(ctx.trace_id, "032x")[:16]  # enough to search for; the JSON has it all
        extra = "".join(f" {k}={_short(v)}" for k, v in fields.items())
        line = f"{moment} {level} {self.service:<20} {record.getMessage()}"
        if extra:
            line += f"\033[2m{extra}\033[0m" if self.colour else extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= 200 and " " not in text else repr(text[:200])


def wants_json(setting: bool | None, stream: Any = None) -> bool:
    """JSON when asked, or by default when nobody reads the stream at a terminal (files, collectors)."""
    if setting is not None:
        return setting
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def setup_logging(service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Route every logger to stderr: JSON lines, or readable lines when a person watches a terminal.

    ``json=None`` decides by the stream: a terminal gets the console format (``make dev``), anything
    else (a pipe, a file, a container's log collector) gets JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    colour = not wants_json(None)  # colours only for a terminal, also when plain lines were asked for
    handler.setFormatter(JsonFormatter(service) if wants_json(json) else ConsoleFormatter(service, colour=colour))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel("WARNING")
