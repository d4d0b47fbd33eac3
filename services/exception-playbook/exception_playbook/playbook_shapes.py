"""A process-wide cache of what never changes about a playbook version: its name, number and steps.

A playbook version is written once (a change is a new version with a new ``playbook_id``; only
``superseded_at`` is ever set later, and that is not kept here), so every step completion can skip
the two reads of the playbook row and its steps. Keys carry the org: a hit never crosses orgs,
and a miss reads through the caller's org transaction, under row-level security.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import service

LIMIT = 4096  # playbook versions kept; the oldest entry goes first when full


@dataclass(frozen=True, slots=True)
class PlaybookShape:
    playbook_id: uuid.UUID
    name: str
    version: int
    steps: tuple[Any, ...]  # the step rows, in step order


_shapes: dict[tuple[str, uuid.UUID], PlaybookShape] = {}


async def shape_of(session: AsyncSession, tenant_id: str, playbook_id: uuid.UUID) -> PlaybookShape:
    """The playbook version's name, number and steps (NotFound when this org has no such version)."""
    key = (tenant_id, playbook_id)
    found = _shapes.get(key)
    if found is not None:
        return found
    pb = await service.get_playbook_row(session=session, tenant_id=tenant_id, playbook_id=playbook_id)
    steps = (await service.steps_of(session=session, tenant_id=tenant_id, playbook_ids=[playbook_id]))[playbook_id]
    shape = PlaybookShape(pb.playbook_id, pb.name, pb.version, tuple(steps))
    if len(_shapes) >= LIMIT:
        del _shapes[next(iter(_shapes))]
    _shapes[key] = shape
    return shape
