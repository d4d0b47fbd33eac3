"""PostgreSQL access: one async engine per process, tenant-scoped transactions for row-level security.

Tenant tables carry a policy ``org_id = current_setting('app.org_id')`` for the role
``playbooks_app``. A tenant transaction switches to that role and sets the org, so even a query
that forgot its ``WHERE org_id = ...`` cannot see another org's rows. Workers that handle many
orgs in one batch use a system transaction and filter by org explicitly.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Result, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

APP_ROLE = "playbooks_app"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "playbooks") -> None:
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": application_name}, "timeout": 5},
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A system transaction: committed when the block ends, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def tenant_transaction(self, org_id: str) -> AsyncIterator[AsyncSession]:
        """A transaction that row-level security confines to one org; then its ``after_commit`` actions."""
        async with self.sessions() as session:
            async with session.begin():
                await set_tenant(session, org_id)
                yield session
            for action in session.info.pop(_AFTER_COMMIT, ()):
                if inspect.isawaitable(done := action()):
                    await done

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE without RETURNING wrote.

    ``AsyncSession.execute`` is typed to return the general ``Result``; for such a statement it is a
    ``CursorResult``, the one that counts them.
    """
    return cast("CursorResult[Any]", result).rowcount


def after_commit(session: AsyncSession, action: Callable[[], object]) -> None:
    """Call ``action`` once the tenant transaction of ``session`` has committed (never if it rolls back);
    when it returns an awaitable (an ``async def``), that is awaited, in the order the actions came.

    For a route on ``TenantSession`` that must act after the commit and before answering, such as
    waking the outbox relay for the rows it staged or refreshing a search index from what committed.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


_AFTER_COMMIT = "after_commit"


async def set_tenant(session: AsyncSession, org_id: str) -> None:
    """Confine the rest of this transaction to ``org_id`` under row-level security."""
    # One round trip: set_config('role', ..., true) is SET LOCAL ROLE (same membership check), and
    # both settings end with the transaction.
    await session.execute(_SET_TENANT, {"role": APP_ROLE, "org": org_id})


_SET_TENANT = text("select set_config('role', :role, true), set_config('app.org_id', :org, true)")
