"""The org's published runbooks: what automation may start, by id and version.

They arrive on ``runbooks.compiled.v1`` when someone publishes a compiled runbook; a version is
stored once and never changes, so a request naming ``runbook_id`` and ``runbook_version`` names
one exact document, whatever the event that caused it carries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.runbook import secret_var_defaults
from playbooks_platform.cursors import decode_cursor, encode_cursor
from playbooks_platform.errors import Conflict, NotFound

from .engine import runbook_digest
from .models import published_runbooks
from .redaction import SECRET_MASK
from .service import check_runbook


def without_secret_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a reader is shown it: a secret var's default replaced by the mask.

    A run started by id and version uses the stored document, default included, so nobody who
    only reads the org's runbooks (a viewer, the console's form) needs the value itself."""
    hidden = secret_var_defaults(document)
    if not hidden:
        return document
    meta = document["meta"]
    shown = {name: spec | {"default": SECRET_MASK} if name in hidden else spec for name, spec in meta["vars"].items()}
    return document | {"meta": meta | {"vars": shown}}


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
    return dict(
        (await published_row(session=session, org_id=org_id, runbook_id=runbook_id, version=version))["document"]
    )


async def published_row(*, session: AsyncSession, org_id: str, runbook_id: str, version: str) -> dict[str, Any]:
    """The stored version (document, source, created_at); ``NotFound`` for an id of no org but this one."""
    p = published_runbooks.c
    row = (
        (
            await session.execute(
                sa.select(p.runbook_id, p.version, p.document, p.source, p.created_at).where(
                    p.org_id == org_id, p.runbook_id == runbook_id, p.version == version
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"no published runbook {runbook_id}@{version} in this org; publish it first "
            "(POST /api/compile with publish: true)"
        )
    return dict(row)


_SEP = "\x1f"  # between runbook_id and version inside a cursor: neither holds a control character


MAX_WORDS = 8  # a search is a few words; more would only make the scan dearer


def _haystack() -> sa.ColumnElement[str]:
    """What a search reads: id, name, description and the *names* of the vars, lower-cased.

    Never a var's default or description text as a whole document: a secret default must not be
    findable by guessing its letters one search at a time."""
    p = published_runbooks.c
    meta = p.document["meta"]
    var_names = sa.func.array_to_string(
        sa.func.array(
            sa.select(sa.func.jsonb_object_keys(meta["vars"]))
            .where(sa.func.jsonb_typeof(meta["vars"]) == "object")
            .scalar_subquery()
        ),
        " ",
    )
    return sa.func.lower(
        sa.func.concat_ws(" ", p.runbook_id, meta["name"].astext, meta["description"].astext, var_names)
    )


def search_words(q: str | None) -> list[str]:
    """The words of a search (each must appear); ``ValueError`` past ``MAX_WORDS``."""
    words = (q or "").lower().split()
    if len(words) > MAX_WORDS:
        raise ValueError(f"a search is at most {MAX_WORDS} words, got {len(words)}")
    return words


async def list_published(
    *, session: AsyncSession, org_id: str, limit: int, cursor: str | None = None, words: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], str | None, int]:
    """(a page of the org's published versions, newest publication first; the next page's cursor;
    how many match in all). ``words``: each must appear in the id, name, description or a var's name."""
    p = published_runbooks.c
    match: list[sa.ColumnElement[bool]] = [p.org_id == org_id]
    if words:
        haystack = _haystack()
        # strpos, not LIKE: a word holding % or _ means itself
        match += [sa.func.strpos(haystack, word) > 0 for word in words]
    query = sa.select(p.runbook_id, p.version, p.document, p.source, p.created_at).where(*match)
    if cursor is not None:
        at, key = decode_cursor(cursor)
        runbook_id, _, version = key.partition(_SEP)
        query = query.where(sa.tuple_(p.created_at, p.runbook_id, p.version) < sa.tuple_(at, runbook_id, version))
    query = query.order_by(p.created_at.desc(), p.runbook_id.desc(), p.version.desc()).limit(limit + 1)
    rows = [dict(r) for r in (await session.execute(query)).mappings()]
    count = (
        await session.execute(sa.select(sa.func.count()).select_from(published_runbooks).where(*match))
    ).scalar_one()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"], f"{last['runbook_id']}{_SEP}{last['version']}")
    return rows[:limit], next_cursor, int(count or 0)
