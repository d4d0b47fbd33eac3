"""Outgoing messages as JSON-ready envelope dicts, built without pydantic.

The worker publishes one message per run and more per action: tens of thousands a second.
Validating data the service built itself cost more than everything else in a run, so the hot
path writes the envelope's JSON form directly; a unit test holds it to ``Envelope`` and to each
topic's data model.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from playbooks_contracts import MAX_CAUSATION_DEPTH, Envelope
from playbooks_platform.ids import new_id


def timestamp(when: datetime) -> str:
    """An instant as pydantic writes it in JSON (UTC, ``Z``)."""
    return when.isoformat().replace("+00:00", "Z")


def caused(
    event: Envelope,
    *,
    type: str,
    data: dict[str, Any],
    source: str,
    occurred_at: str,
    ceiling: bool = False,
    id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A message caused by ``event``, one step deeper in its chain (``ceiling``: never past the limit).

    ``id``: the message is about one new thing (a run, an activity, a task) and takes its id.
    """
    depth = event.depth + 1
    if depth > MAX_CAUSATION_DEPTH:
        if not ceiling:
            raise ValueError(f"causation depth {depth} exceeds {MAX_CAUSATION_DEPTH}")
        depth = MAX_CAUSATION_DEPTH
    return {
        "id": str(id or new_id()),
        "type": type,
        "org_id": event.org_id,
        "occurred_at": occurred_at,
        "source": source,
        "schema_version": 1,
        "causation_id": str(event.id),
        "depth": depth,
        "data": data,
    }
