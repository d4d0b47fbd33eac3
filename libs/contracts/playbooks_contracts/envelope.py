"""The message envelope every topic message travels in."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from .base import OrgId, StrictModel, UtcDatetime, utcnow

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


def derived_id(*parts: object) -> uuid.UUID:
    """A stable id from an idempotency key and its context (org, index, ...): the uuid5 of the
    parts joined by colons, in the event id namespace."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, ":".join(map(str, parts)))
