"""Runs per UTC day by status, counted by PostgreSQL for a chart (``playbooks_contracts.insights``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.insights import WINDOW_DAYS, DailyRuns, DayCounts, Window


def window_start(window: Window, now: datetime | None = None) -> datetime:
    """Midnight UTC of the window's first day; its last day is today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=WINDOW_DAYS[window] - 1)


async def daily_runs(
    session: AsyncSession,
    *,
    created_at: ColumnElement[datetime],
    status: ColumnElement[str],
    where: ColumnElement[bool],
    window: Window,
) -> DailyRuns:
    """Counts of the rows ``where`` selects, by the UTC day of ``created_at`` and by ``status``. One
    grouped query: its cost follows the rows in the window, the answer is at most 30 days x statuses."""
    since = window_start(window)
    day = func.date_trunc("day", func.timezone("UTC", created_at)).label("day")
    rows = await session.execute(
        select(day, status.label("status"), func.count().label("n"))
        .where(where, created_at >= since)
        .group_by(day, status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[row.day.date().isoformat()][row.status] = row.n
    days = []
    for i in range(WINDOW_DAYS[window]):
        on = (since + timedelta(days=i)).date()
        of_day = counts.get(on.isoformat(), {})
        days.append(DayCounts(day=on, counts=of_day, total=sum(of_day.values())))
    return DailyRuns(window=window, since=since, days=days, total=sum(d.total for d in days))


__all__ = ["daily_runs", "window_start"]
