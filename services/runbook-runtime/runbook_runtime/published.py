"""The org's published runbooks: what automation may start, by id and version.

They arrive on ``runbooks.compiled.v1`` when someone publishes a compiled runbook; a version is
stored once and never changes, so a request naming ``runbook_id`` and ``runbook_version`` names
one exact document, whatever the event that caused it carries.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_platform.errors import Conflict, NotFound

from .engine import runbook_digest
from .models import published_runbooks
from .service import check_runbook


def digest_of(document: dict[str, Any]) -> str:
    return runbook_digest(json.dumps(document, sort_keys=True, separators=(",", ":")))


async def publish_runbook(
    *, session: AsyncSession, org_id: str, runbook_id: str, version: str, document: dict[str, Any], source: str
) -> bool:
    """Store a valid runbook version; False when this very document was stored before (a redelivery)."""
    check_runbook(document)
    digest = digest_of(document)
    p = published_runbooks.c
    inserted = await session.scalar(
        insert(published_runbooks)
        .values(org_id=org_id, runbook_id=runbook_id, version=version, document=document, digest=digest, source=source)
        .on_conflict_do_nothing()
        .returning(p.digest)
    )
    if inserted is not None:
        return True
    stored = await session.scalar(
        sa.select(p.digest).where(p.org_id == org_id, p.runbook_id == runbook_id, p.version == version)
    )
    if stored != digest:
        raise Conflict(
            f"runbook {runbook_id}@{version} is already published with other content; "
            "a published version never changes: publish it as a new version"
        )
    return False


async def get_published(*, session: AsyncSession, org_id: str, runbook_id: str, version: str) -> dict[str, Any]:
    p = published_runbooks.c
    document = await session.scalar(
        sa.select(p.document).where(p.org_id == org_id, p.runbook_id == runbook_id, p.version == version)
    )
    if document is None:
        raise NotFound(
            f"no published runbook {runbook_id}@{version} in this org; publish it first "
            "(POST /api/compile with publish: true)"
        )
    return dict(document)
