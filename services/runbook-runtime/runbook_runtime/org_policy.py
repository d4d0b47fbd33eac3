"""Each org's policy, stored by runbook-runtime and set by the org's admins over its API.

The policy an org runs under is this one when the org stored one, else the service's default
(``RunbookRuntimeSettings.default_org_policy``: nothing in production, a read-only set in dev),
else an empty OrgPolicy. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.policy import OrgPolicy

from .models import org_policies


async def stored_policy(*, session: AsyncSession, org_id: str) -> OrgPolicy | None:
    query = sa.select(org_policies.c.policy).where(org_policies.c.org_id == org_id)
    row = (await session.execute(query)).scalar()
    return OrgPolicy.model_validate(row) if row is not None else None


async def get_policy(*, session: AsyncSession, org_id: str, default: OrgPolicy | None = None) -> OrgPolicy:
    """The org's policy: what its admins stored, else ``default``, else an empty OrgPolicy."""
    stored = await stored_policy(session=session, org_id=org_id)
    if stored is not None:
        return stored
    return default.model_copy(deep=True) if default is not None else OrgPolicy()


async def put_policy(*, session: AsyncSession, org_id: str, policy: OrgPolicy, actor: str) -> OrgPolicy:
    """Replace the org's policy (the whole document, so what is stored is what was reviewed)."""
    values = {"org_id": org_id, "policy": policy.model_dump(mode="json"), "updated_by": actor}
    stmt = pg_insert(org_policies).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id"],
            set_={"policy": stmt.excluded.policy, "updated_by": actor, "updated_at": sa.func.now()},
        )
    )
    return policy
