"""What the org does to its own playbook versions (publish, change a status, delete), each with its
audit entry, and the search index following once the transaction commits.

The HTTP routes and the compiled-runbook consumer both publish through here, so a version is
audited and indexed the same way whichever door it came in by. Functions never commit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.recommendation import PlaybookDocument
from playbooks_platform.db import after_commit
from playbooks_platform.service import Runtime

from . import clones, service
from .search import SearchEngine
from .settings import RecommendationSettings

Key = tuple[str, str]


def engine_of(runtime: Runtime[RecommendationSettings]) -> SearchEngine:
    engine: SearchEngine = runtime.state["engine"]
    return engine


def follow(session: AsyncSession, runtime: Runtime[RecommendationSettings], org_id: str, changed: list[Key]) -> None:
    """Once ``session`` has committed, the index follows the versions that changed (a route: before
    its answer). Nothing changed: no second connection."""

    async def refresh() -> None:
        async with runtime.database.tenant_transaction(org_id) as fresh:
            await engine_of(runtime).refresh(fresh, org_id, changed)

    if changed:
        after_commit(session, refresh)


async def publish(
    session: AsyncSession,
    runtime: Runtime[RecommendationSettings],
    *,
    org_id: str,
    document: PlaybookDocument,
    actor: str,
    from_ref: str,
) -> None:
    """A new version of one of the org's playbooks (a clone's lineage is checked, not taken from it)."""
    await clones.check_edit(session, org_id, document)
    _, changed = await service.publish(
        session=session, org_id=org_id, document=document, actor=actor, model=engine_of(runtime).embedder.name
    )
    meta = document.metadata
    await clones.audit(
        session,
        org_id=org_id,
        playbook_id=meta.playbook_id,
        action="published",
        actor=actor,
        from_ref=from_ref,
        version=meta.version,
        detail={"status": meta.status},
    )
    follow(session, runtime, org_id, changed)


async def change_status(
    session: AsyncSession,
    runtime: Runtime[RecommendationSettings],
    *,
    org_id: str,
    playbook_id: str,
    version: str,
    to: str,
    reason: str | None,
    actor: str,
) -> None:
    changed = await service.change_status(
        session=session, org_id=org_id, playbook_id=playbook_id, version=version, to=to, reason=reason, actor=actor
    )
    await clones.audit(
        session,
        org_id=org_id,
        playbook_id=playbook_id,
        action="status_changed",
        actor=actor,
        from_ref=f"version {version}",
        version=version,
        detail={"to": to, "reason": reason},
    )
    follow(session, runtime, org_id, changed)


async def delete_version(
    session: AsyncSession,
    runtime: Runtime[RecommendationSettings],
    *,
    org_id: str,
    playbook_id: str,
    version: str,
    actor: str,
) -> None:
    changed = await service.delete_version(session=session, org_id=org_id, playbook_id=playbook_id, version=version)
    await clones.audit(
        session,
        org_id=org_id,
        playbook_id=playbook_id,
        action="deleted",
        actor=actor,
        from_ref=f"version {version}",
        version=version,
    )
    await clones.forget_if_gone(session, org_id, playbook_id)
    follow(session, runtime, org_id, changed)


__all__ = ["change_status", "delete_version", "engine_of", "follow", "publish"]
