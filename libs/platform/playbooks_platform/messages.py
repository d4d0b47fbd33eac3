"""Messages: the one way a service makes what it publishes.

``new`` starts a causation chain (a request, a schedule, an upstream event at the edge);
``caused`` continues one: the message takes its org from the message that caused it, its
``causation_id`` is that message's id and its depth one more than that message's, whatever the
new message's data says, and past ``MAX_DEPTH`` it is refused (``TooDeep``, with the reason).
Both return the envelope as a JSON-ready dict (ids and times as text), which ``encode`` turns
into the bytes a publisher sends, ``outgoing`` into a keyed ``OutgoingMessage`` and the outbox
stores as it is.

The dict is written here from the caller's values, without an ``Envelope`` in between: hot paths
publish tens of thousands of messages a second, and validating data the service built itself
cost more than everything else in a condition-engine run. A unit test holds what this module
writes to the ``Envelope`` contract (it validates as one, and dumps to the same dict).

Ids are minted here too: ``new_id`` (random) and ``PositionIds`` (a log's records) build their
UUIDs without ``uuid.UUID``'s checks, for bits set right by construction (0.8 against 1.7 us an
id; a condition-engine run mints one per playbook and one per action).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from playbooks_contracts import Envelope, Topic, derived_id, utcnow
from playbooks_contracts.envelope import MAX_CAUSATION_DEPTH, MAX_SOURCE_LENGTH, SCHEMA_VERSION

from .bus.publisher import OutgoingMessage
from .telemetry import inject_headers

# The one depth limit: automation that reacts to its own output must stop somewhere. The
# contracts hold ``Envelope.depth`` to the same constant, so a consumer dead-letters a deeper message.
MAX_DEPTH = MAX_CAUSATION_DEPTH

# An envelope as a JSON-ready dict (``data`` may be an ``orjson.Fragment`` for ``encode``).
Message = dict[str, Any]


class TooDeep(ValueError):
    """A message would be deeper in its causation chain than ``MAX_DEPTH``."""


class Cause(NamedTuple):
    """What a caused message takes from the message that caused it, read once per consumed message
    (a condition-engine event causes a run record per playbook and a message per action)."""

    id: str
    org_id: str
    depth: int


def cause(by: Envelope | Cause | Mapping[str, Any]) -> Cause:
    """The ``Cause`` of a consumed envelope (or of a message dict this process made)."""
    if isinstance(by, Cause):
        return by
    if isinstance(by, Envelope):
        return Cause(str(by.id), by.org_id, by.depth)
    return Cause(str(by["id"]), by["org_id"], by["depth"])  # type: ignore[index]


def timestamp(when: datetime) -> str:
    """An instant as the envelope's JSON writes it (UTC, ``Z``), as pydantic does."""
    return when.isoformat().replace("+00:00", "Z")


def new(
    *,
    type: str,
    data: Mapping[str, Any] | orjson.Fragment,
    org_id: str,
    source: str,
    id: uuid.UUID | str | None = None,
    occurred_at: datetime | str | None = None,
    causation_id: uuid.UUID | str | None = None,
    depth: int = 0,
) -> Message:
    """A message that starts a causation chain here.

    ``causation_id``/``depth``: only at the edge, where an outside producer states where its event
    sits in a chain of its own; the depth is still held to ``MAX_DEPTH``.
    """
    if not 0 <= depth <= MAX_DEPTH:
        raise TooDeep(_too_deep(depth))
    # A chain's first message may carry a source someone else chose (a user id, a producer's name):
    # held to the Envelope's bound here, as the model would, so consumers never dead-letter it for that.
    if not 0 < len(source) <= MAX_SOURCE_LENGTH:
        raise ValueError(f"source is {len(source)} characters; a message's source has 1 to {MAX_SOURCE_LENGTH}")
    return _envelope(
        id, type, org_id, occurred_at, source, None if causation_id is None else str(causation_id), depth, data
    )


def caused(
    by: Envelope | Cause | Mapping[str, Any],
    *,
    type: str,
    data: Mapping[str, Any],
    source: str,
    id: uuid.UUID | str | None = None,
    occurred_at: datetime | str | None = None,
    clamp: bool = False,
) -> Message:
    """A message caused by ``by`` (a consumed envelope, its ``Cause``, or a message made here), one
    step deeper in its chain; raises ``TooDeep`` past ``MAX_DEPTH``.

    ``clamp``: a record of what happened (a run, a log entry), published even at the end of a chain;
    it stays at the limit, so whatever it would cause in turn is refused.
    """
    c = by if isinstance(by, Cause) else cause(by)
    depth = c.depth + 1
    if depth > MAX_DEPTH:
        if not clamp:
            raise TooDeep(_too_deep(depth))
        depth = MAX_DEPTH
    return _envelope(id, type, c.org_id, occurred_at, source, c.id, depth, data)


def caused_or_new(
    by: Envelope | Cause | Mapping[str, Any] | None,
    *,
    type: str,
    data: Mapping[str, Any],
    org_id: str,
    source: str,
    id: uuid.UUID | str | None = None,
    occurred_at: datetime | str | None = None,
    clamp: bool = False,
) -> Message:
    """``caused(by, ...)`` when a consumed message caused this one, else ``new(...)``: for code that
    runs both for a consumed message and for a request. ``by`` must be of ``org_id``'s org."""
    if by is None:
        return new(type=type, data=data, org_id=org_id, source=source, id=id, occurred_at=occurred_at)
    c = cause(by)
    if c.org_id != org_id:
        raise ValueError(f"a message of org {org_id!r} cannot be caused by one of org {c.org_id!r}")
    return caused(c, type=type, data=data, source=source, id=id, occurred_at=occurred_at, clamp=clamp)


def _too_deep(depth: int) -> str:
    return f"causation depth {depth} exceeds the limit of {MAX_DEPTH} (a chain of automation reacting to itself)"


def _envelope(
    id: uuid.UUID | str | None,
    type: str,
    org_id: str,
    occurred_at: datetime | str | None,
    source: str,
    causation_id: str | None,
    depth: int,
    data: Any,
) -> Message:
    # The same keys, in the same order, as Envelope's fields: the JSON is the model's to the byte.
    return {
        "id": str(id) if id is not None else str(new_id()),
        "type": type,
        "org_id": org_id,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else timestamp(occurred_at or utcnow()),
        "source": source,
        "schema_version": SCHEMA_VERSION,
        "causation_id": causation_id,
        "depth": depth,
        "data": data,
    }


def encode(message: Message) -> bytes:
    """The bytes a publisher sends for ``message``."""
    return orjson.dumps(message)


def outgoing(topic: Topic | str, message: Message, headers: Mapping[str, str] | None = None) -> OutgoingMessage:
    """``message`` ready to publish, keyed by its org, with ``headers`` (a consumed message's trace,
    ``Delivery.trace_headers()``) or else the current trace context."""
    return OutgoingMessage(topic, encode(message), message["org_id"], inject_headers() if headers is None else headers)


def as_envelope(message: Message) -> Envelope:
    """``message`` as the ``Envelope`` model (validated), for code that reads one."""
    return Envelope.model_validate(message)


# -- ids -----------------------------------------------------------------------------------

_POOL_IDS = 4096
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_new = object.__new__
_set = object.__setattr__


def _uuid(value: int) -> uuid.UUID:
    """``uuid.UUID(int=value)`` without its checks, for bits right by construction."""
    ident = _new(uuid.UUID)
    _set(ident, "int", value)
    _set(ident, "is_safe", uuid.SafeUUID.unknown)
    return ident  # type: ignore[no-any-return]


class _Pool:
    """Random bytes drawn from ``os.urandom`` many ids at a time (one system call per 4096 ids)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buffer, self.pos = b"", 0

    def take(self) -> int:
        if self.pos >= len(self.buffer):
            self.buffer, self.pos = os.urandom(16 * _POOL_IDS), 0
        start = self.pos
        self.pos = start + 16
        return int.from_bytes(self.buffer[start : start + 16])


class _HexPool:
    """``_Pool``'s random bytes as hex text, for ids only ever written as text."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hex, self.pos = "", 0


_pool = _Pool()
_hex_pool = _HexPool()
# A forked child must never replay its parent's unused random bytes.
os.register_at_fork(after_in_child=_pool.reset)
os.register_at_fork(after_in_child=_hex_pool.reset)
# The variant nibble (RFC 4122: 10xx) from a random hex digit's low two bits.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def new_id() -> uuid.UUID:
    """A random version-4 UUID, as ``uuid.uuid4()`` gives (same randomness source, cheaper to make)."""
    return _uuid((_pool.take() & _VERSION_MASK) | _VERSION_4)


def new_id_text() -> str:
    """``str(new_id())`` without the ``UUID`` in between, for ids that are only ever text (a message
    id, a row id sent to PostgreSQL as text): a third of the cost."""
    pool = _hex_pool
    if pool.pos >= len(pool.hex):
        pool.hex, pool.pos = os.urandom(16 * _POOL_IDS).hex(), 0
    i = pool.pos
    pool.pos = i + 32
    h = pool.hex
    # 8-4-4-4-12 hex digits; the version digit is 4, the variant digit's high bits are 10
    return (
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
    )


class PositionIds:
    """Ids of the records of one log (a topic partition), one per offset, for records that bring
    none: the log's 64 bits (a hash of its name, with RFC 9562's version 8 and variant bits), the
    offset in the low 62. Stable across redeliveries, unique by construction, and no hash per
    record (0.7 against 1.8 us for a uuid5 of the position)."""

    def __init__(self, *log: object) -> None:
        self._log = log
        high = derived_id(*log).int >> 64
        self._base = (((high & ~0xF000) | 0x8000) << 64) | (0b10 << 62)

    def __call__(self, offset: int) -> uuid.UUID:
        if not 0 <= offset < _OFFSETS:  # beyond 62 bits (never, for Kafka): a hash of the position
            return derived_id(*self._log, offset)
        return _uuid(self._base | offset)


_OFFSETS = 1 << 62
