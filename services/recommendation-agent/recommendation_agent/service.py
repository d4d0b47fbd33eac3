"""Playbook lifecycle: publish, status transitions, deletion, execution stats, script artifacts.

Functions are keyword-only, take the session and never commit; they return the versions whose
index points must follow once the caller commits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.recommendation import (
    TRANSITIONS,
    PlaybookDocument,
    PlaybookMetadata,
    PlaybookStats,
    PlaybookVersionRead,
    StatusHistoryEntry,
    s3_path_of,
    sha256_of,
    version_key,
)
from playbooks_contracts.runbook import secret_var_defaults
from playbooks_platform.db import rowcount
from playbooks_platform.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound

from . import ranking
from .embeddings import content_hash
from .library import LIBRARY_TENANT, library_by_key
from .models import artifacts, execution_stats, executions, playbook_versions, status_history, upload_nonces

# A version reaches the team as pending; it becomes trusted (and may go active) only through a review.
PUBLISHABLE = ("draft", "ready", "pending_review")
STORAGE_REFUSED = {
    "local_only": "a 'local_only' playbook stays on the client that made it: the server never stores it (keep it "
    "local, or publish it as 'uploaded_for_review' to share it with the team after a review)",
    "uploaded_trusted": "'uploaded_trusted' is granted by a review, not claimed: publish as 'uploaded_for_review' and "
    "someone other than the author approves it",
    "using_default": "'using_default' names the library's own playbooks; a tenant version is 'uploaded_for_review'",
}
Key = tuple[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _no_nul(**values: Any) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: refuse it as bad input rather than fail on it."""
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
        if "\x00" in text or "\\u0000" in text:
            raise Invalid(f"{name} contains a NUL character (U+0000), which cannot be stored")


async def publish(
    *, session: AsyncSession, org_id: str, document: PlaybookDocument, actor: str, model: str
) -> tuple[dict[str, Any], list[Key]]:
    """Store a new tenant playbook version; publishing an active version deprecates the older active ones."""
    meta = document.metadata
    _check_publishable(meta)
    _no_secret_defaults(document)
    now = _now()
    doc = document.model_dump(mode="json")
    _no_nul(document=doc)
    doc["metadata"]["created_at"] = doc["metadata"]["created_at"] or now.isoformat()
    doc["metadata"]["updated_at"] = now.isoformat()
    await _store_scripts(session, org_id, document, doc)
    source = "ai_generated" if meta.author == "ai_generated" else "tenant"
    major, minor, patch = version_key(meta.version)
    result = await session.execute(
        pg_insert(playbook_versions)
        .values(
            org_id=org_id,
            playbook_id=meta.playbook_id,
            version=meta.version,
            major=major,
            minor=minor,
            patch=patch,
            source=source,
            status=meta.status,
            storage_strategy=meta.storage_strategy,
            name=meta.name,
            document=doc,
            content_hash=content_hash(ranking.document_text(doc["metadata"]), model),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    if rowcount(result) == 0:
        raise Conflict(f"{meta.playbook_id}@{meta.version} already exists; versions are immutable, publish a new one")
    await _history(session, org_id, meta.playbook_id, meta.version, None, meta.status, "published", actor)
    changed = [(meta.playbook_id, meta.version)]
    if meta.status == "active":
        changed += await _deprecate_others(session, org_id, meta.playbook_id, meta.version, actor)
    return doc, changed


async def _deprecate_others(
    session: AsyncSession, org_id: str, playbook_id: str, version: str, actor: str
) -> list[Key]:
    c = playbook_versions.c
    rows = (
        await session.execute(
            update(playbook_versions)
            .where(c.org_id == org_id, c.playbook_id == playbook_id, c.version != version, c.status == "active")
            .values(status="deprecated", updated_at=_now())
            .returning(c.version)
        )
    ).all()
    for r in rows:
        await _history(
            session, org_id, playbook_id, r.version, "active", "deprecated", f"superseded by {version}", actor
        )
    return [(playbook_id, r.version) for r in rows]


async def _history(
    session: AsyncSession,
    org_id: str,
    playbook_id: str,
    version: str,
    frm: str | None,
    to: str,
    reason: str | None,
    actor: str,
) -> None:
    await session.execute(
        insert(status_history).values(
            org_id=org_id,
            playbook_id=playbook_id,
            version=version,
            from_status=frm,
            to_status=to,
            reason=reason,
            actor=actor,
        )
    )


async def _get_row(session: AsyncSession, org_id: str, playbook_id: str, version: str, *, lock: bool = False) -> Any:
    c = playbook_versions.c
    query = select(playbook_versions).where(c.org_id == org_id, c.playbook_id == playbook_id, c.version == version)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"no playbook {playbook_id}@{version} in org {org_id}")
    return row


async def change_status(
    *, session: AsyncSession, org_id: str, playbook_id: str, version: str, to: str, reason: str | None, actor: str
) -> list[Key]:
    """Apply one transition of the table in ``TRANSITIONS``; an illegal one is a 409 naming the allowed targets."""
    _no_nul(reason=reason)
    row = await _get_row(session, org_id, playbook_id, version, lock=True)
    allowed = TRANSITIONS[row.status]
    if to not in allowed:
        raise InvalidTransition(
            f"cannot change {playbook_id}@{version} from {row.status!r} to {to!r}; allowed: {list(allowed) or 'none'}",
            current=row.status,
            allowed=list(allowed),
        )
    if to == "rejected" and not reason:
        raise Invalid("rejecting a playbook needs a reason the author can act on")
    if to == "approved":
        author = await publisher_of(session, org_id, playbook_id, version)
        if actor == author:
            raise Forbidden(
                f"you published {playbook_id}@{version}, so you cannot approve it: four eyes, a reviewer other than "
                "the author approves a publication"
            )
    if to == "active" and row.storage_strategy != "uploaded_trusted":
        raise Conflict(
            f"{playbook_id}@{version} has not been approved ({row.storage_strategy}): a version goes active after a "
            "reviewer other than its author approves it (pending_review, then approved)"
        )
    doc = dict(row.document)
    meta = dict(doc["metadata"])
    meta["status"] = to
    meta["updated_at"] = _now().isoformat()
    values: dict[str, Any] = {"status": to, "updated_at": _now()}
    if to == "approved":
        meta["storage_strategy"] = values["storage_strategy"] = "uploaded_trusted"
    doc["metadata"] = meta
    values["document"] = doc
    c = playbook_versions.c
    await session.execute(
        update(playbook_versions)
        .where(c.org_id == org_id, c.playbook_id == playbook_id, c.version == version)
        .values(**values)
    )
    await _history(session, org_id, playbook_id, version, row.status, to, reason, actor)
    changed = [(playbook_id, version)]
    if to == "active":
        changed += await _deprecate_others(session, org_id, playbook_id, version, actor)
    return changed


async def publisher_of(session: AsyncSession, org_id: str, playbook_id: str, version: str) -> str | None:
    """Who published the version: the actor of its first history row (the author, for four eyes)."""
    h = status_history.c
    return (
        await session.execute(
            select(h.actor)
            .where(h.org_id == org_id, h.playbook_id == playbook_id, h.version == version, h.from_status.is_(None))
            .order_by(h.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def delete_version(*, session: AsyncSession, org_id: str, playbook_id: str, version: str) -> list[Key]:
    await _get_row(session, org_id, playbook_id, version)
    c = playbook_versions.c
    await session.execute(
        delete(playbook_versions).where(c.org_id == org_id, c.playbook_id == playbook_id, c.version == version)
    )
    s = execution_stats.c
    await session.execute(
        delete(execution_stats).where(
            s.org_id == org_id, s.source == "tenant", s.playbook_id == playbook_id, s.version == version
        )
    )
    return [(playbook_id, version)]


async def stats_of(session: AsyncSession, org_id: str, source: str, playbook_id: str, version: str) -> PlaybookStats:
    s = execution_stats.c
    row = (
        await session.execute(
            select(execution_stats).where(
                s.org_id == org_id, s.source == source, s.playbook_id == playbook_id, s.version == version
            )
        )
    ).first()
    if row is None:
        return PlaybookStats()
    return ranking.stats_of(row.success_count, row.failure_count, row.consecutive_failures, row.last_executed_at)


async def get_version(*, session: AsyncSession, org_id: str, playbook_id: str, version: str) -> PlaybookVersionRead:
    row = await _get_row(session, org_id, playbook_id, version)
    return PlaybookVersionRead(
        tenant_id=org_id,
        playbook_id=playbook_id,
        version=version,
        name=row.name,
        status=row.status,
        source=row.source,
        storage_strategy=row.storage_strategy,
        stats=await stats_of(session, org_id, "tenant", playbook_id, version),
        document=row.document,
        scripts={
            fmt: s3_path_of(org_id, playbook_id, version, f"{fmt}/{entry['entry_point']}")
            for fmt, entry in row.document["execution_formats"].items()
            if entry
        },
        updated_at=row.updated_at,
    )


async def history(*, session: AsyncSession, org_id: str, playbook_id: str, version: str) -> list[StatusHistoryEntry]:
    await _get_row(session, org_id, playbook_id, version)
    h = status_history.c
    rows = await session.execute(
        select(status_history)
        .where(h.org_id == org_id, h.playbook_id == playbook_id, h.version == version)
        .order_by(h.id)
    )
    return [
        StatusHistoryEntry(from_status=r.from_status, to_status=r.to_status, reason=r.reason, actor=r.actor, at=r.at)
        for r in rows
    ]


def _no_secret_defaults(document: PlaybookDocument) -> None:
    """Everyone in the org reads a playbook document whole (a version, a search result, a clone), so a
    secret var's value is given when a run starts, never stored here as its default. (runbook-runtime's
    published runbooks may keep one: they are started by id and show readers a mask.)"""
    for name, default in secret_var_defaults(document.runbook or {}).items():
        if default != "":
            raise Invalid(
                f"runbook.meta.vars.{name} is secret and has a default: everyone who can read this playbook "
                "would read it; remove the default and give the value when a run starts"
            )


def _check_publishable(meta: PlaybookMetadata) -> None:
    """What a tenant may publish: not as the library, a storage strategy kept, a status short of active,
    and a ``based_on`` that names a library playbook."""
    if meta.author == "library":
        raise Invalid("a tenant cannot publish with author 'library'; use 'user_custom' or 'ai_generated'")
    if meta.storage_strategy in STORAGE_REFUSED:
        raise Invalid(f"metadata.storage_strategy: {STORAGE_REFUSED[meta.storage_strategy]}")
    if meta.status not in PUBLISHABLE:
        raise Invalid(
            f"a new version can be published as one of {list(PUBLISHABLE)}, not {meta.status!r}: it goes active "
            "after a reviewer other than its author approves it"
        )
    if meta.based_on and (meta.based_on.playbook_id, meta.based_on.version) not in library_by_key():
        raise Invalid(f"based_on names no library playbook {meta.based_on.playbook_id}@{meta.based_on.version}")


async def _store_scripts(session: AsyncSession, org_id: str, document: PlaybookDocument, doc: dict[str, Any]) -> None:
    """Scripts are artifacts addressed by sha256; the document (``doc``) keeps their checksum and size,
    not their content. A script given by checksum alone must have been uploaded."""
    for name, fmt in document.execution_formats.present().items():
        if fmt.content is not None:
            data = fmt.content.encode()
            await session.execute(
                pg_insert(artifacts)
                .values(org_id=org_id, sha256=fmt.checksum, content=data, size_bytes=len(data))
                .on_conflict_do_nothing()
            )
        else:
            row = (
                await session.execute(
                    select(artifacts.c.size_bytes).where(
                        artifacts.c.org_id == org_id, artifacts.c.sha256 == fmt.checksum
                    )
                )
            ).first()
            if row is None:
                raise Invalid(f"execution_formats.{name}: no uploaded artifact {fmt.checksum}; upload it first")
            doc["execution_formats"][name]["size_bytes"] = row.size_bytes
        doc["execution_formats"][name]["content"] = None


async def record_execution(
    *,
    session: AsyncSession,
    org_id: str,
    playbook_id: str,
    version: str,
    success: bool,
    run_id: str | None,
    duration_ms: int | None,
    error: str | None,
    broken_after: int,
    parameters: dict[str, Any] | None = None,
    failed_step: str | None = None,
) -> tuple[PlaybookStats, list[Key]]:
    """Count one execution (once per run id); the Nth consecutive failure marks a tenant version broken."""
    _no_nul(run_id=run_id, error=error, parameters=parameters, failed_step=failed_step)
    row = await _tenant_version(session, org_id, playbook_id, version)
    if row is not None:
        source = "tenant"
    elif (playbook_id, version) in library_by_key():
        source = "library"
    else:
        raise NotFound(f"no playbook {playbook_id}@{version} in org {org_id} or in the library")
    if run_id is not None:
        fresh = await session.execute(
            pg_insert(executions)
            .values(
                org_id=org_id,
                run_id=run_id,
                playbook_id=playbook_id,
                version=version,
                source=source,
                success=success,
                duration_ms=duration_ms,
                error=error,
                parameters=parameters,
                failed_step=failed_step,
            )
            .on_conflict_do_nothing()
        )
        if rowcount(fresh) == 0:
            return await stats_of(session, org_id, source, playbook_id, version), []
    await _count(session, (org_id, source, playbook_id, version), success=success, duration_ms=duration_ms)
    stats = await stats_of(session, org_id, source, playbook_id, version)
    changed: list[Key] = []
    if row is not None and stats.consecutive_failures >= broken_after and "broken" in TRANSITIONS[row.status]:
        changed = await change_status(
            session=session,
            org_id=org_id,
            playbook_id=playbook_id,
            version=version,
            to="broken",
            reason=f"{stats.consecutive_failures} consecutive failed executions",
            actor="system",
        )
    return stats, changed


async def _tenant_version(session: AsyncSession, org_id: str, playbook_id: str, version: str) -> Any:
    """The org's own version (its status), locked until the transaction ends; None when it has none."""
    c = playbook_versions.c
    return (
        await session.execute(
            select(c.status)
            .where(c.org_id == org_id, c.playbook_id == playbook_id, c.version == version)
            .with_for_update()
        )
    ).first()


async def _count(
    session: AsyncSession, key: tuple[str, str, str, str], *, success: bool, duration_ms: int | None
) -> None:
    """One execution added to the stats of (org, source, playbook, version)."""
    org_id, source, playbook_id, version = key
    now = _now()
    ins = pg_insert(execution_stats).values(
        org_id=org_id,
        source=source,
        playbook_id=playbook_id,
        version=version,
        success_count=int(success),
        failure_count=int(not success),
        consecutive_failures=int(not success),
        total_duration_ms=duration_ms or 0,
        last_executed_at=now,
    )
    s = execution_stats.c
    await session.execute(
        ins.on_conflict_do_update(
            index_elements=[s.org_id, s.source, s.playbook_id, s.version],
            set_={
                "success_count": s.success_count + int(success),
                "failure_count": s.failure_count + int(not success),
                "consecutive_failures": 0 if success else s.consecutive_failures + 1,
                "total_duration_ms": s.total_duration_ms + (duration_ms or 0),
                "last_executed_at": now,
            },
        )
    )


async def store_artifact(*, session: AsyncSession, org_id: str, content: bytes) -> str:
    digest = sha256_of(content)
    await session.execute(
        pg_insert(artifacts)
        .values(org_id=org_id, sha256=digest, content=content, size_bytes=len(content))
        .on_conflict_do_nothing()
    )
    return digest


async def consume_upload_nonce(*, session: AsyncSession, org_id: str, nonce: str, expires: int) -> None:
    """Record a signed upload URL's nonce; a second use of the same URL is a Conflict."""
    # A nonce need only be remembered until its URL expires: after that the signature check refuses it.
    await session.execute(
        delete(upload_nonces).where(and_(upload_nonces.c.org_id == org_id, upload_nonces.c.expires_at < _now()))
    )
    row = (
        await session.execute(
            pg_insert(upload_nonces)
            .values(org_id=org_id, nonce=nonce, expires_at=datetime.fromtimestamp(expires, UTC))
            .on_conflict_do_nothing()
            .returning(upload_nonces.c.nonce)
        )
    ).first()
    if row is None:
        raise Conflict("this signed upload URL was already used: request a new one for another upload")


async def get_artifact(*, session: AsyncSession, org_id: str, sha256: str) -> bytes:
    row = (
        await session.execute(
            select(artifacts.c.content).where(and_(artifacts.c.org_id == org_id, artifacts.c.sha256 == sha256))
        )
    ).first()
    if row is None:
        raise NotFound(f"no artifact {sha256}")
    return bytes(row.content)


async def script_of(
    *, session: AsyncSession, org_id: str, playbook_id: str, version: str, fmt: str
) -> tuple[str, dict[str, Any]]:
    """Where a script lives: ``(tenant of the artifact, format entry)``; tenant versions first, then the library."""
    c = playbook_versions.c
    row = (
        await session.execute(
            select(c.document).where(c.org_id == org_id, c.playbook_id == playbook_id, c.version == version)
        )
    ).first()
    if row is not None:
        entry = row.document["execution_formats"].get(fmt)
        if not entry:
            raise NotFound(f"{playbook_id}@{version} has no {fmt} script")
        return org_id, entry
    lib = library_by_key().get((playbook_id, version))
    if lib is None:
        raise NotFound(f"no playbook {playbook_id}@{version} in org {org_id} or in the library")
    entry = lib.raw["execution_formats"].get(fmt)
    if not entry:
        raise NotFound(f"{playbook_id}@{version} has no {fmt} script")
    return LIBRARY_TENANT, entry
