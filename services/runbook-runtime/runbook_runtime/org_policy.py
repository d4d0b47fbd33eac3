"""The org's policy as the runtime reads it.

Placeholder on this branch: the defaults of ``OrgPolicy`` (one approval by an approver or an
admin). The policy work stores each org's policy in a table with an API; at merge, its version of
this module replaces this one, with the same signature.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.policy import OrgPolicy


async def get_policy(*, session: AsyncSession, org_id: str) -> OrgPolicy:
    """The policy of ``org_id`` (here: the defaults for every org)."""
    return OrgPolicy()
