"""Playbooks, runs and insights of one org. Functions take the session and never commit.

Every query filters by the org, and the routes call them in the org's transaction, so row-level
security confines them to that org a second time. Every change to a playbook's definition or
status bumps the org's revision, which tells the worker to reload its compiled playbooks.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import utcnow
from playbooks_contracts.insights import WINDOW_DAYS, DailyRuns, Window
from playbooks_platform.cursors import decode_uuid_cursor, encode_cursor
from playbooks_platform.db import rowcount
from playbooks_platform.errors import Conflict, Invalid, NotFound
from playbooks_platform.insights import daily_runs

from .actions import ActionError, validate_actions
from .dsl import ConditionError, validate_conditions
from .models import SCHEMA, playbook_runs, playbooks, run_events
from .templates import BY_KEY

_BUMP = text(
    f"INSERT INTO {SCHEMA}.playbook_revisions (org_id, revision) VALUES (:org, 1) "
    "ON CONFLICT (org_id) DO UPDATE SET revision = playbook_revisions.revision + 1"
)


def check_definition(conditions: Any, actions: Any) -> None:
    """Refuse a playbook the engine could not run, naming the condition or action and why (422)."""
    try:
        validate_conditions(conditions)
    except ConditionError as exc:
        raise Invalid(
            f"condition {exc.index} is invalid: {exc}",
            errors=[{"field": f"body.conditions[{exc.index}].{exc.part}", "index": exc.index, "message": exc.reason}],
        ) from None
    try:
        validate_actions(actions)
    except ActionError as exc:
        raise Invalid(
            f"action {exc.index} is invalid: {exc}",
            errors=[{"field": f"body.actions[{exc.index}].{exc.part}", "index": exc.index, "message": exc.reason}],
        ) from None


async def _bump(session: AsyncSession, org_id: str) -> None:
    await session.execute(_BUMP, {"org": org_id})


async def create_playbook(
    *,
    session: AsyncSession,
    org_id: str,
    name: str,
    trigger: str,
    conditions: list[Any],
    actions: list[Any],
    status: str,
    template_key: str | None = None,
    max_per_org: int = 500,
) -> Row[Any]:
    check_definition(conditions, actions)
    count = await session.scalar(select(func.count()).select_from(playbooks).where(playbooks.c.org_id == org_id))
    if (count or 0) >= max_per_org:
        raise Conflict(f"this org already has {count} playbooks, the limit; delete one first")
    now = utcnow()
    row = (
        await session.execute(
            insert(playbooks)
            .values(
                id=uuid.uuid4(),
                org_id=org_id,
                name=name,
                trigger=trigger,
                conditions=conditions,
                actions=actions,
                status=status,
                template_key=template_key,
                created_at=now,
                updated_at=now,
            )
            .returning(*playbooks.c)
        )
    ).one()
    await _bump(session, org_id)
    return row


async def create_from_template(
    *, session: AsyncSession, org_id: str, key: str, name: str | None, status: str, max_per_org: int = 500
) -> Row[Any]:
    template = BY_KEY.get(key)
    if template is None:
        raise NotFound(f"no template {key!r}; GET /api/playbook-templates lists them")
    return await create_playbook(
        session=session,
        org_id=org_id,
        name=name or template["name"],
        trigger=template["trigger"],
        conditions=template["conditions"],
        actions=template["actions"],
        status=status,
        template_key=key,
        max_per_org=max_per_org,
    )


async def get_playbook(*, session: AsyncSession, org_id: str, playbook_id: uuid.UUID) -> Row[Any]:
    row = (
        await session.execute(select(playbooks).where(playbooks.c.org_id == org_id, playbooks.c.id == playbook_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no playbook {playbook_id} in this org")
    return row


async def list_playbooks(*, session: AsyncSession, org_id: str, status: str | None = None) -> list[Row[Any]]:
    query = select(playbooks).where(playbooks.c.org_id == org_id)
    if status is not None:
        query = query.where(playbooks.c.status == status)
    return list((await session.execute(query.order_by(playbooks.c.created_at, playbooks.c.id))).all())


async def update_playbook(
    *, session: AsyncSession, org_id: str, playbook_id: uuid.UUID, changes: dict[str, Any]
) -> Row[Any]:
    current = await get_playbook(session=session, org_id=org_id, playbook_id=playbook_id)
    if not changes:
        return current
    check_definition(changes.get("conditions", current.conditions), changes.get("actions", current.actions))
    row = (
        await session.execute(
            update(playbooks)
            .where(playbooks.c.org_id == org_id, playbooks.c.id == playbook_id)
            .values(**changes, version=playbooks.c.version + 1, updated_at=utcnow())
            .returning(*playbooks.c)
        )
    ).one()
    await _bump(session, org_id)
    return row


async def set_status(*, session: AsyncSession, org_id: str, playbook_id: uuid.UUID, status: str) -> Row[Any]:
    current = await get_playbook(session=session, org_id=org_id, playbook_id=playbook_id)
    if status == "active":
        # The stored definition is checked again: refuse to run one the language no longer accepts.
        check_definition(current.conditions, current.actions)
    if current.status == status:
        return current
    row = (
        await session.execute(
            update(playbooks)
            .where(playbooks.c.org_id == org_id, playbooks.c.id == playbook_id)
            .values(status=status, updated_at=utcnow())
            .returning(*playbooks.c)
        )
    ).one()
    await _bump(session, org_id)
    return row


async def delete_playbook(*, session: AsyncSession, org_id: str, playbook_id: uuid.UUID) -> None:
    """Delete a playbook and, with it, its run history (the runs reference it)."""
    result = await session.execute(delete(playbooks).where(playbooks.c.org_id == org_id, playbooks.c.id == playbook_id))
    if not rowcount(result):
        raise NotFound(f"no playbook {playbook_id} in this org")
    await _bump(session, org_id)


# -- runs -----------------------------------------------------------------------------------


# A run as the API shows it: its row, and its event's JSON from run_events (stored once per event,
# migration 0004). Every run has its event row (the worker writes both in one transaction, and
# the migration copied the old runs' events); the outer join and '{}' only keep a run visible if
# that ever failed to hold.
_RUNS = select(
    playbook_runs,
    func.coalesce(run_events.c.trigger_event, literal_column("'{}'::jsonb")).label("trigger_event"),
).select_from(
    playbook_runs.outerjoin(
        run_events,
        and_(run_events.c.org_id == playbook_runs.c.org_id, run_events.c.event_id == playbook_runs.c.event_id),
    )
)


async def list_runs(
    *,
    session: AsyncSession,
    org_id: str,
    playbook_id: uuid.UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Row[Any]], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages stay stable while runs arrive."""
    r = playbook_runs.c
    query = _RUNS.where(r.org_id == org_id)
    if playbook_id is not None:
        query = query.where(r.playbook_id == playbook_id)
    if status is not None:
        query = query.where(r.status == status)
    if since is not None:
        query = query.where(r.created_at >= since)
    if cursor is not None:
        at, ident = decode_uuid_cursor(cursor)
        query = query.where(or_(r.created_at < at, and_(r.created_at == at, r.id < ident)))
    rows = list((await session.execute(query.order_by(r.created_at.desc(), r.id.desc()).limit(limit + 1))).all())
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def get_run(*, session: AsyncSession, org_id: str, run_id: uuid.UUID) -> Row[Any]:
    row = (
        await session.execute(_RUNS.where(playbook_runs.c.org_id == org_id, playbook_runs.c.id == run_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no playbook run {run_id} in this org")
    return row


# -- insights ---------------------------------------------------------------------------------

WINDOWS = {name: timedelta(days=days) for name, days in WINDOW_DAYS.items()}
CATEGORIES = ("contracts", "decks", "accounts")


def _counts(rows: list[Any]) -> dict[str, int]:
    counts = {"success": 0, "failed": 0, "skipped": 0, "pending": 0}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + row.n
    counts["total"] = sum(counts.values())
    return counts


async def daily(
    *,
    session: AsyncSession,
    org_id: str,
    window: Window,
    playbook_id: uuid.UUID | None = None,
    category: str | None = None,
) -> DailyRuns:
    """Runs per day by status over the window, for one playbook or one category when named (a run
    with no category counts as ``other``, as in ``insights``)."""
    r = playbook_runs.c
    where = r.org_id == org_id
    if playbook_id:
        where = and_(where, r.playbook_id == playbook_id)
    if category:
        where = and_(where, func.coalesce(r.metrics["category"].astext, "other") == category)
    return await daily_runs(session, created_at=r.created_at, status=r.status, where=where, window=window)


async def insights(*, session: AsyncSession, org_id: str, window: str) -> dict[str, Any]:
    """Runs by status and the last run, per category (contracts, decks, accounts) and per playbook."""
    since = utcnow() - WINDOWS[window]
    r = playbook_runs.c
    category = r.metrics["category"].astext
    in_window = and_(r.org_id == org_id, r.created_at >= since)
    by_category = (
        await session.execute(
            select(category.label("category"), r.status, func.count().label("n"), func.max(r.created_at).label("last"))
            .where(in_window)
            .group_by(category, r.status)
        )
    ).all()
    by_playbook = (
        await session.execute(
            select(r.playbook_id, r.status, func.count().label("n"), func.max(r.created_at).label("last"))
            .where(in_window)
            .group_by(r.playbook_id, r.status)
        )
    ).all()
    categories = []
    named = [(row.category or "other", row) for row in by_category]
    for name in list(CATEGORIES) + sorted({n for n, _ in named} - set(CATEGORIES)):
        rows = [row for n, row in named if n == name]
        categories.append(
            {"category": name, "runs": _counts(rows), "last_run_at": max((x.last for x in rows), default=None)}
        )
    per_playbook = []
    for pb in await list_playbooks(session=session, org_id=org_id):
        rows = [row for row in by_playbook if row.playbook_id == pb.id]
        per_playbook.append(
            {
                "playbook_id": pb.id,
                "name": pb.name,
                "trigger": pb.trigger,
                "status": pb.status,
                "runs": _counts(rows),
                "last_run_at": max((x.last for x in rows), default=None),
            }
        )
    return {"window": window, "since": since, "categories": categories, "playbooks": per_playbook}
