"""The message envelope every topic message travels in."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import Field

from .base import OrgId, StrictModel, UtcDatetime, utcnow, uuid_from_int

# Automation that reacts to its own output must stop somewhere: a message whose causation
# chain is deeper than this is refused.
MAX_CAUSATION_DEPTH = 5

# Longest ``source`` of a message; producers' own sources are held to it too.
MAX_SOURCE_LENGTH = 128

# The envelope format's version; a change readers must know about raises it.
SCHEMA_VERSION = 1

# Namespace for ids derived from an idempotency key, so a retried request maps to the same ids.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3b0e-4d55-9a53-2f0f7d1f3c11")


class Envelope(StrictModel):
    """One message: an idempotency id, who it belongs to, what it is, and its data."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Idempotency key of this message.")
    type: str = Field(min_length=1, max_length=128, description="Message type, e.g. activity_event.")
    org_id: OrgId = Field(description="Org (tenant) the message belongs to; the partition key.")
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    source: str = Field(default="unknown", min_length=1, max_length=MAX_SOURCE_LENGTH)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    causation_id: uuid.UUID | None = Field(default=None, description="Id of the message that caused this one.")
    depth: int = Field(default=0, ge=0, le=MAX_CAUSATION_DEPTH, description="Length of the causation chain.")
    data: dict[str, Any] = Field(default_factory=dict)

    def caused(self, *, type: str, data: dict[str, Any], source: str) -> Envelope:
        """A follow-up message caused by this one, one step deeper in the chain."""
        return Envelope(
            type=type,
            org_id=self.org_id,
            source=source,
            causation_id=self.id,
            depth=self.depth + 1,
            data=data,
        )


def derived_id(*parts: object) -> uuid.UUID:
    """A stable id from an idempotency key and its context (org, index, ...): ``uuid.uuid5``'s,
    computed without its checked constructor (every upstream message without an id needs one)."""
    return _from_digest(_hash(parts))


class PositionIds:
    """Ids of the records of one log (a topic partition), one per offset, for records that bring
    none: the log's 64 bits (a hash of its name, with RFC 9562's version 8 and variant bits), the
    offset in the low 62. Stable across redeliveries, unique by construction, and no hash per
    record (0.7 against 1.8 us for a uuid5 of the position); every upstream message without an
    id needs one."""

    def __init__(self, *log: object) -> None:
        self._log = log
        high = int.from_bytes(_hash(log)[:8])
        self._base = (((high & ~0xF000) | 0x8000) << 64) | (0b10 << 62)

    def __call__(self, offset: int) -> uuid.UUID:
        if not 0 <= offset < _OFFSETS:  # beyond 62 bits (never, for Kafka): a hash of the position
            return derived_id(*self._log, offset)
        return uuid_from_int(self._base | offset)


_OFFSETS = 1 << 62


def _hash(parts: tuple[object, ...]) -> bytes:
    """uuid5's SHA-1 of the parts joined by colons, in the event id namespace."""
    return hashlib.sha1(_NAMESPACE_BYTES + ":".join(map(str, parts)).encode()).digest()


def _from_digest(digest: bytes) -> uuid.UUID:
    return uuid_from_int((int.from_bytes(digest[:16]) & _VERSION_MASK) | _VERSION_5)


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5 = (0x5000 << 64) | (0x8000 << 48)
