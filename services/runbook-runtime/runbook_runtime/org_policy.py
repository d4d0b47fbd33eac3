"""The org's policy as runbook-runtime stores it (placeholder: the policy work owns the real module).

An org that never set one has ``OrgPolicy()``: the approvals floor's defaults, and automation may
start no real run.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.policy import OrgPolicy

from .models import org_policies


async def get_policy(*, session: AsyncSession, org_id: str) -> OrgPolicy:
    """The org's policy, or the defaults when it has none."""
    stored = await session.scalar(select(org_policies.c.policy).where(org_policies.c.org_id == org_id))
    return OrgPolicy() if stored is None else OrgPolicy.model_validate(stored)


async def put_policy(*, session: AsyncSession, org_id: str, policy: OrgPolicy) -> None:
    """Replace the org's policy."""
    values = {"org_id": org_id, "policy": policy.model_dump(mode="json")}
    await session.execute(
        insert(org_policies)
        .values(**values)
        .on_conflict_do_update(index_elements=["org_id"], set_={"policy": values["policy"], "updated_at": func.now()})
    )
