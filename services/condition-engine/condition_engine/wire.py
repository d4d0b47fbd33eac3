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
from playbooks_contracts.envelope import SCHEMA_VERSION
from playbooks_platform.ids import new_id

# The ids of a batch's events and playbooks recur in every message it makes (each run's record,
# each action's message): their text is made once, not per message (0.9 to 1.6 us each, against
# 0.3 for the lookup). Bounded.
_ID_TEXT: dict[uuid.UUID, str] = {}


def id_text(ident: uuid.UUID) -> str:
    """``str(ident)``, remembered for ids that recur."""
    text = _ID_TEXT.get(ident)
    if text is None:
        if len(_ID_TEXT) >= 65_536:
            _ID_TEXT.clear()
        text = _ID_TEXT[ident] = str(ident)
    return text


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
        "schema_version": SCHEMA_VERSION,
        "causation_id": id_text(event.id),
        "depth": depth,
        "data": data,
    }
