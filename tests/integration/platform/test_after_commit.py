"""db.after_commit over a real PostgreSQL: actions (plain or async) run after the commit, in order, and
never when the transaction rolls back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from playbooks_dev.testing import Infra
from playbooks_platform.db import Database, after_commit


async def test_actions_run_after_the_commit_in_order_and_never_after_a_rollback(infra: Infra) -> None:
    db = Database(infra.database_url, pool_size=2)
    probe = f"after_commit_{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    async def refresh() -> None:
        # an async action may use the database itself: what the transaction wrote is committed by now
        async with db.transaction() as session:
            seen.append(f"async saw {(await session.execute(text(f'select count(*) from {probe}'))).scalar()}")

    try:
        async with db.transaction() as session:
            await session.execute(text(f"create table {probe} (x int)"))
        async with db.tenant_transaction("org-after-commit") as session:
            await session.execute(text("reset role"))  # the probe table has no tenant policy
            await session.execute(text(f"insert into {probe} values (1)"))
            after_commit(session, lambda: seen.append("plain"))
            after_commit(session, refresh)
            assert seen == []  # nothing before the commit
        assert seen == ["plain", "async saw 1"]

        with pytest.raises(RuntimeError):
            async with db.tenant_transaction("org-after-commit") as session:
                after_commit(session, lambda: seen.append("rolled back"))
                raise RuntimeError("the route failed")
        assert "rolled back" not in seen
    finally:
        async with db.transaction() as session:
            await session.execute(text(f"drop table if exists {probe}"))
        await db.dispose()
