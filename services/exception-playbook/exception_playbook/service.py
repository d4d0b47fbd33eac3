"""Exceptions, playbook versions and packs of one org. Functions take the session and never commit.

Every query filters by the org (column ``tenant_id``); the routes run them in the org's transaction, so
row-level security confines them a second time. Every playbook change bumps the org's revision, which
tells each process's cache of compiled candidates to reload.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import utcnow
from playbooks_platform.cursors import decode_uuid_cursor, encode_cursor
from playbooks_platform.errors import Conflict, Invalid, NotFound

from .matching import CandidateIndex, MatchablePlaybook, compile_candidate
from .models import SCHEMA, exceptions, packs, playbook_steps, playbooks
from .packs import DEFAULT_POLICY, DomainPack, EffectivePolicy, PolicyPack
from .schemas import ExceptionCreate, PlaybookCreate

POLICY_PACK_NAME = "default"

_BUMP = text(
    f"INSERT INTO {SCHEMA}.playbook_revisions (tenant_id, revision) VALUES (:org, 1) "
    "ON CONFLICT (tenant_id) DO UPDATE SET revision = playbook_revisions.revision + 1"
)
_REVISION = text(f"SELECT revision FROM {SCHEMA}.playbook_revisions WHERE tenant_id = :org")


# -- exceptions ---------------------------------------------------------------------------


async def get_exception(
    *, session: AsyncSession, tenant_id: str, exception_id: uuid.UUID, for_update: bool = False
) -> Row[Any]:
    query = select(exceptions).where(exceptions.c.tenant_id == tenant_id, exceptions.c.id == exception_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"no exception {exception_id} in this org")
    return row


async def resolve_exception(session: AsyncSession, tenant_id: str, ref: str, for_update: bool = False) -> Row[Any]:
    """The exception by its id or, failing that, by the upstream system's id for it."""
    try:
        exception_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        exception_id = None
    if exception_id is not None:
        try:
            return await get_exception(
                session=session, tenant_id=tenant_id, exception_id=exception_id, for_update=for_update
            )
        except NotFound:
            pass
    row = await find_by_external_id(session=session, tenant_id=tenant_id, external_id=ref, for_update=for_update)
    if row is None:
        raise NotFound(f"no exception {ref!r} in this org (neither an id nor an external_id)")
    return row


async def find_by_external_id(
    *, session: AsyncSession, tenant_id: str, external_id: str, for_update: bool = False
) -> Row[Any] | None:
    query = select(exceptions).where(exceptions.c.tenant_id == tenant_id, exceptions.c.external_id == external_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).one_or_none()


async def insert_exception(
    *, session: AsyncSession, tenant_id: str, body: ExceptionCreate, source_occurred_at: Any = None
) -> Row[Any]:
    now = utcnow()
    values = body.model_dump(exclude={"tenant_id"})  # the claim was checked; the org is the token's
    try:
        async with session.begin_nested():
            return (
                await session.execute(
                    insert(exceptions)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        status="open",
                        source_occurred_at=source_occurred_at,
                        created_at=now,
                        updated_at=now,
                        **values,
                    )
                    .returning(*exceptions.c)
                )
            ).one()
    except IntegrityError:
        raise Conflict(
            f"an exception with external_id {body.external_id!r} already exists in this org; update it instead"
        ) from None


async def list_exceptions(
    *,
    session: AsyncSession,
    tenant_id: str,
    limit: int = 50,
    status: Sequence[str] = (),
    since: datetime | None = None,
    cursor: str | None = None,
) -> tuple[list[Row[Any]], str | None, int]:
    """(a page, newest first, the next page's cursor, how many match in all); keyset on (created_at, id)."""
    match = [exceptions.c.tenant_id == tenant_id]
    if status:
        match.append(exceptions.c.status.in_(list(status)))
    if since is not None:
        match.append(exceptions.c.created_at >= since)
    count = (await session.execute(select(func.count()).select_from(exceptions).where(*match))).scalar_one()
    query = select(exceptions).where(*match)
    if cursor is not None:
        at, ident = decode_uuid_cursor(cursor)
        query = query.where(
            or_(exceptions.c.created_at < at, and_(exceptions.c.created_at == at, exceptions.c.id < ident))
        )
    query = query.order_by(exceptions.c.created_at.desc(), exceptions.c.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).all())
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor, count


async def cas_update(
    *, session: AsyncSession, tenant_id: str, current: Row[Any], values: dict[str, Any], what: str
) -> Row[Any]:
    """Write ``values`` only if the exception is still at the version read (compare-and-set), else 409."""
    row = (
        await session.execute(
            update(exceptions)
            .where(
                exceptions.c.tenant_id == tenant_id,
                exceptions.c.id == current.id,
                exceptions.c.version == current.version,
            )
            .values(**values, version=current.version + 1, updated_at=utcnow())
            .returning(*exceptions.c)
        )
    ).one_or_none()
    if row is None:
        raise changed_meanwhile(current.id, what)
    return row


def changed_meanwhile(exception_id: uuid.UUID, what: str) -> Conflict:
    """The 409 of a compare-and-set that found the exception at another version than the one read."""
    return Conflict(
        f"exception {exception_id} changed while {what} (another request got there first); "
        "reload it and try again if it still applies"
    )


# -- playbooks ----------------------------------------------------------------------------


async def _bump(session: AsyncSession, tenant_id: str) -> None:
    await session.execute(_BUMP, {"org": tenant_id})


async def _insert_version(
    session: AsyncSession, tenant_id: str, lineage_id: uuid.UUID, version: int, body: PlaybookCreate
) -> uuid.UUID:
    now = utcnow()
    playbook_id = uuid.uuid4()
    await session.execute(
        insert(playbooks).values(
            playbook_id=playbook_id,
            tenant_id=tenant_id,
            lineage_id=lineage_id,
            name=body.name,
            description=body.description,
            version=version,
            conditions=body.conditions.model_dump(mode="json", exclude_none=True),
            created_at=now,
            updated_at=now,
        )
    )
    await session.execute(
        insert(playbook_steps),
        [
            {
                "step_id": uuid.uuid4(),
                "playbook_id": playbook_id,
                "tenant_id": tenant_id,
                "step_order": i,
                "name": step.name,
                "action_type": step.action_type,
                "params": step.params,
                "risky": step.risky,
                "skippable": step.skippable,
                "created_at": now,
            }
            for i, step in enumerate(body.steps, start=1)
        ],
    )
    await _bump(session, tenant_id)
    return playbook_id


async def create_playbook(
    *, session: AsyncSession, tenant_id: str, body: PlaybookCreate, max_per_tenant: int = 5_000
) -> uuid.UUID:
    count = await session.scalar(
        select(func.count())
        .select_from(playbooks)
        .where(playbooks.c.tenant_id == tenant_id, playbooks.c.superseded_at.is_(None))
    )
    if (count or 0) >= max_per_tenant:
        raise Conflict(f"this org already has {count} playbooks, the limit; retire one first")
    return await _insert_version(session, tenant_id, uuid.uuid4(), 1, body)


async def create_version(
    *, session: AsyncSession, tenant_id: str, playbook_id: uuid.UUID, body: PlaybookCreate
) -> uuid.UUID:
    """A new version of the playbook's lineage; it supersedes the current one (only the current may be revised)."""
    base = await get_playbook_row(session=session, tenant_id=tenant_id, playbook_id=playbook_id)
    current = (
        await session.execute(
            select(playbooks)
            .where(
                playbooks.c.tenant_id == tenant_id,
                playbooks.c.lineage_id == base.lineage_id,
                playbooks.c.superseded_at.is_(None),
            )
            .with_for_update()
        )
    ).one_or_none()
    if current is None or current.playbook_id != playbook_id:
        latest = f"version {current.version} ({current.playbook_id})" if current else "no current version"
        raise Conflict(f"playbook {playbook_id} is version {base.version}, not the current one: revise {latest}")
    if body.version is not None and body.version != current.version + 1:
        # Seed 001's version in the body is the version the client means to make: a stale one loses, like an ETag.
        raise Conflict(
            f"the body makes version {body.version}, but playbook {playbook_id} is at version {current.version}: "
            f"the next is {current.version + 1} (someone else may have revised it; read it again)"
        )
    await session.execute(
        update(playbooks)
        .where(playbooks.c.playbook_id == current.playbook_id)
        .values(superseded_at=utcnow(), updated_at=utcnow())
    )
    return await _insert_version(session, tenant_id, base.lineage_id, current.version + 1, body)


async def get_playbook_row(*, session: AsyncSession, tenant_id: str, playbook_id: uuid.UUID) -> Row[Any]:
    row = (
        await session.execute(
            select(playbooks).where(playbooks.c.tenant_id == tenant_id, playbooks.c.playbook_id == playbook_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no playbook {playbook_id} in this org")
    return row


async def steps_of(
    *, session: AsyncSession, tenant_id: str, playbook_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list]:
    s = playbook_steps.c
    rows = (
        await session.execute(
            select(playbook_steps)
            .where(s.tenant_id == tenant_id, s.playbook_id.in_(list(playbook_ids)))
            .order_by(s.playbook_id, s.step_order)
        )
    ).all()
    out: dict[uuid.UUID, list] = {pid: [] for pid in playbook_ids}
    for row in rows:
        out[row.playbook_id].append(row)
    return out


async def list_playbooks(
    *, session: AsyncSession, tenant_id: str, include_superseded: bool = False, lineage_id: uuid.UUID | None = None
) -> list[Row[Any]]:
    p = playbooks.c
    query = select(playbooks).where(p.tenant_id == tenant_id)
    if not include_superseded:
        query = query.where(p.superseded_at.is_(None))
    if lineage_id is not None:
        query = query.where(p.lineage_id == lineage_id)
    return list((await session.execute(query.order_by(p.name, p.lineage_id, p.version.desc()))).all())


class CandidateCache:
    """Compiled current playbook versions per org, checked against the org's revision on each use."""

    def __init__(self, max_orgs: int = 10_000) -> None:
        self.max_orgs = max_orgs
        self._orgs: OrderedDict[str, tuple[int, CandidateIndex]] = OrderedDict()

    async def get(self, session: AsyncSession, tenant_id: str) -> CandidateIndex:
        # The revision is read before the playbooks: a change committed in between is loaded now
        # and cached under the older revision, so the next call reloads it; never the reverse.
        revision = await session.scalar(_REVISION, {"org": tenant_id}) or 0
        cached = self._orgs.get(tenant_id)
        if cached is not None and cached[0] == revision:
            self._orgs.move_to_end(tenant_id)
            return cached[1]
        candidates = CandidateIndex(await load_candidates(session=session, tenant_id=tenant_id))
        self._orgs[tenant_id] = (revision, candidates)
        while len(self._orgs) > self.max_orgs:
            self._orgs.popitem(last=False)
        return candidates


async def load_candidates(*, session: AsyncSession, tenant_id: str) -> list[MatchablePlaybook]:
    p = playbooks.c
    rows = await session.execute(
        select(p.playbook_id, p.name, p.version, p.updated_at, p.conditions).where(
            p.tenant_id == tenant_id, p.superseded_at.is_(None)
        )
    )
    out = []
    for row in rows:
        try:
            out.append(
                compile_candidate(
                    playbook_id=row.playbook_id,
                    name=row.name,
                    version=row.version,
                    updated_at=row.updated_at,
                    conditions=row.conditions,
                )
            )
        except ValidationError:
            continue  # stored before a stricter schema: it can never match, and creation refuses new ones
    return out


# -- packs --------------------------------------------------------------------------------


def _validate(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    model = PolicyPack if kind == "policy" else DomainPack
    try:
        return model.model_validate(document).model_dump(mode="json")
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(document)", "message": e["msg"]} for e in exc.errors()
        ]
        first = errors[0]
        raise Invalid(f"invalid {kind} pack: {first['field']}: {first['message']}", errors=errors) from None


async def add_pack_version(
    *, session: AsyncSession, tenant_id: str, kind: str, name: str, document: dict[str, Any], created_by: str | None
) -> Row[Any]:
    clean = _validate(kind, document)
    k = packs.c
    latest = await session.scalar(
        select(func.max(k.version)).where(k.tenant_id == tenant_id, k.kind == kind, k.name == name)
    )
    try:
        async with session.begin_nested():
            return (
                await session.execute(
                    insert(packs)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        kind=kind,
                        name=name,
                        version=(latest or 0) + 1,
                        document=clean,
                        created_by=created_by,
                        created_at=utcnow(),
                    )
                    .returning(*packs.c)
                )
            ).one()
    except IntegrityError:
        raise Conflict(f"another {kind} pack version was written at the same time; reload and retry") from None


async def get_pack(
    *, session: AsyncSession, tenant_id: str, kind: str, name: str, version: int | None = None
) -> Row[Any] | None:
    k = packs.c
    query = select(packs).where(k.tenant_id == tenant_id, k.kind == kind, k.name == name)
    query = query.where(k.version == version) if version is not None else query.order_by(k.version.desc()).limit(1)
    return (await session.execute(query)).first()


async def list_packs(
    *, session: AsyncSession, tenant_id: str, kind: str, name: str | None = None, all_versions: bool = False
) -> list[Row[Any]]:
    k = packs.c
    query = select(packs).where(k.tenant_id == tenant_id, k.kind == kind)
    if name is not None:
        query = query.where(k.name == name)
    if not all_versions:
        query = query.distinct(k.name).order_by(k.name, k.version.desc())
    else:
        query = query.order_by(k.name, k.version.desc())
    return list((await session.execute(query)).all())


async def effective_policy(*, session: AsyncSession, tenant_id: str, domain: str) -> EffectivePolicy:
    """The org's newest policy pack (or the default) with the newest domain pack of ``domain``."""
    k = packs.c
    rows = (
        await session.execute(
            select(k.kind, k.version, k.document)
            .where(
                k.tenant_id == tenant_id,
                or_(
                    and_(k.kind == "policy", k.name == POLICY_PACK_NAME),
                    and_(k.kind == "domain", k.name == domain_key(domain)),
                ),
            )
            .distinct(k.kind)
            .order_by(k.kind, k.version.desc())
        )
    ).all()
    found = {r.kind: r for r in rows}
    policy_row, domain_row = found.get("policy"), found.get("domain")
    return EffectivePolicy(
        policy=PolicyPack.model_validate(policy_row.document) if policy_row else DEFAULT_POLICY,
        policy_version=policy_row.version if policy_row else 0,
        domain=DomainPack.model_validate(domain_row.document) if domain_row else None,
        domain_version=domain_row.version if domain_row else None,
    )


def domain_key(domain: str) -> str:
    """Domain packs are named by the case-folded domain: Finance and finance share one."""
    return domain.strip().casefold()
