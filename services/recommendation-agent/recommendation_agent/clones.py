"""Org clones of protected library templates: spawn under quotas, lineage, audit, template updates, versions.

Library playbooks are templates no org can edit; an org clones one into a tenant playbook of its own (lineage:
template id and version, and the template as it was cloned). New versions made here (a template update taken,
a proposal approved, a rollback) go through the same ``service.publish`` as any tenant version, then take the
trust of the version they were built from: built from a reviewed (``uploaded_trusted``) version they go
``active``, otherwise they wait for a review (``pending_review``). Functions never commit.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.clones import (
    AuditEntry,
    CloneSummary,
    FieldChange,
    Lineage,
    OrgPlaybookRead,
    TemplateUpdate,
    TemplateUpdateResult,
    VersionSummary,
)
from playbooks_contracts.recommendation import PlaybookDocument, version_key
from playbooks_platform.auth import Principal
from playbooks_platform.errors import Conflict, Forbidden, NotFound
from playbooks_platform.permissions import Permission, has

from . import library, service
from .models import clones, playbook_audit, playbook_versions, status_history
from .settings import RecommendationSettings

Key = tuple[str, str]
Path = tuple[str, ...]

# Identity of a playbook: what it is, not how it runs. Proposals never change these; a template update never
# changes the clone's own id and name (lineage moves only by taking a template update).
IDENTITY_FIELDS = ("playbook_id", "name", "cloud_provider", "resource_types", "based_on")
# Metadata that every version stamps anew: never part of a diff or a merge.
STAMPS = ("version", "status", "storage_strategy", "author", "created_at", "updated_at", "based_on")
# Lists whose items are keyed, so that a diff names "parameters[name=region]" rather than a list position.
KEYED_LISTS: dict[Path, str] = {
    ("parameters",): "name",
    ("explain_plan", "what_happens"): "step",
    ("runbook", "steps"): "id",
}


# -- the library as templates ------------------------------------------------------------------


def templates() -> dict[str, library.LibraryPlaybook]:
    """The newest library version of every template id (the library is loaded at start-up)."""
    newest: dict[str, library.LibraryPlaybook] = {}
    for (pid, version), lib in library.library_by_key().items():
        if pid not in newest or version_key(version) > version_key(newest[pid].key[1]):
            newest[pid] = lib
    return newest


def is_template(playbook_id: str) -> bool:
    return playbook_id in templates()


def refuse_template_edit(playbook_id: str) -> None:
    """A library template is protected: an org works on its own clone."""
    if is_template(playbook_id):
        raise Forbidden(
            f"{playbook_id} is a protected library template: no org can edit it; make your own copy with "
            f"POST /api/playbook/{playbook_id}/clone and edit that"
        )


# -- audit -------------------------------------------------------------------------------------


async def audit(
    session: AsyncSession,
    *,
    org_id: str,
    playbook_id: str,
    action: str,
    actor: str,
    from_ref: str,
    version: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(playbook_audit).values(
            org_id=org_id,
            playbook_id=playbook_id,
            action=action,
            actor=actor,
            from_ref=from_ref,
            version=version,
            detail=detail or {},
        )
    )


async def audit_log(*, session: AsyncSession, org_id: str, playbook_id: str) -> list[AuditEntry]:
    a = playbook_audit.c
    rows = (
        await session.execute(
            select(playbook_audit).where(a.org_id == org_id, a.playbook_id == playbook_id).order_by(a.id)
        )
    ).all()
    if not rows:
        await current_row(session, org_id, playbook_id)  # 404 (or 403 on a template) when there is nothing
    return [
        AuditEntry(
            id=r.id,
            action=r.action,
            actor=r.actor,
            from_ref=r.from_ref,
            version=r.version,
            detail=r.detail,
            at=r.at,
        )
        for r in rows
    ]


# -- versions ------------------------------------------------------------------------------------


async def current_row(session: AsyncSession, org_id: str, playbook_id: str, *, lock: bool = False) -> Any:
    """The version an org playbook stands at: the active one, else the newest."""
    c = playbook_versions.c
    query = (
        select(playbook_versions)
        .where(c.org_id == org_id, c.playbook_id == playbook_id)
        .order_by((c.status == "active").desc(), c.major.desc(), c.minor.desc(), c.patch.desc())
        .limit(1)
    )
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        refuse_template_edit(playbook_id)
        raise NotFound(f"no playbook {playbook_id} in org {org_id}")
    return row


async def next_version(session: AsyncSession, org_id: str, playbook_id: str) -> str:
    c = playbook_versions.c
    row = (
        await session.execute(
            select(c.major, c.minor)
            .where(c.org_id == org_id, c.playbook_id == playbook_id)
            .order_by(c.major.desc(), c.minor.desc(), c.patch.desc())
            .limit(1)
        )
    ).first()
    return "1.0.0" if row is None else f"{row.major}.{row.minor + 1}.0"


def is_trusted(row: Any) -> bool:
    return row.storage_strategy == "uploaded_trusted"


async def store_version(
    session: AsyncSession,
    *,
    org_id: str,
    doc: dict[str, Any],
    version: str,
    actor: str,
    model: str,
    trusted: bool,
    reason: str,
) -> list[Key]:
    """A new version of an org playbook from a whole document (scripts by content or by stored checksum)."""
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    meta.update(
        version=version,
        status="draft",
        author="user_custom" if meta.get("author") == "library" else meta.get("author", "user_custom"),
        storage_strategy="uploaded_for_review",
        created_at=None,
        updated_at=None,
    )
    # Stored documents may carry fields of the request that published them (tenant_id): only the document's own.
    doc = {k: v for k, v in doc.items() if k in PlaybookDocument.model_fields}
    try:
        document = PlaybookDocument.model_validate(doc)
    except ValidationError as exc:
        raise Conflict(f"the new version would not be a valid playbook: {exc.errors()[:3]}") from None
    stored, changed = await service.publish(session=session, org_id=org_id, document=document, actor=actor, model=model)
    to, strategy = ("active", "uploaded_trusted") if trusted else ("pending_review", "uploaded_for_review")
    stored["metadata"].update(status=to, storage_strategy=strategy)
    c = playbook_versions.c
    pid = meta["playbook_id"]
    await session.execute(
        update(playbook_versions)
        .where(c.org_id == org_id, c.playbook_id == pid, c.version == version)
        .values(status=to, storage_strategy=strategy, document=stored)
    )
    # Trust is inherited, not granted: the content is a reviewed version's (or the library's) plus what the
    # owner approved; anything built on an unreviewed version waits for a review like any publication.
    await session.execute(
        insert(status_history).values(
            org_id=org_id,
            playbook_id=pid,
            version=version,
            from_status="draft",
            to_status=to,
            reason=reason,
            actor=actor,
        )
    )
    if to == "active":
        changed += await service._deprecate_others(session, org_id, pid, version, actor)
    return changed


# -- owner ---------------------------------------------------------------------------------------


async def owner_of(session: AsyncSession, org_id: str, playbook_id: str) -> str | None:
    """A clone's owner; for another org playbook, whoever published its first version."""
    row = (
        await session.execute(
            select(clones.c.owner).where(clones.c.org_id == org_id, clones.c.playbook_id == playbook_id)
        )
    ).first()
    if row is not None:
        return str(row.owner)
    c = playbook_versions.c
    first = (
        await session.execute(
            select(c.version)
            .where(c.org_id == org_id, c.playbook_id == playbook_id)
            .order_by(c.major, c.minor, c.patch)
            .limit(1)
        )
    ).first()
    if first is None:
        return None
    return await service.publisher_of(session, org_id, playbook_id, first.version)


async def require_owner(session: AsyncSession, org_id: str, playbook_id: str, principal: Principal, doing: str) -> None:
    """The owner decides what happens to their playbook; an org admin may stand in."""
    owner = await owner_of(session, org_id, playbook_id)
    if principal.user_id == owner or has(principal, Permission.ADMIN):
        return
    raise Forbidden(f"only the owner of {playbook_id} ({owner}) or an org admin may {doing}")


# -- clone ---------------------------------------------------------------------------------------


def _strip_scripts(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as compared: scripts by checksum (their content is an artifact), no per-version stamps."""
    out = copy.deepcopy(doc)
    for fmt in (out.get("execution_formats") or {}).values():
        if fmt:
            fmt.pop("content", None)
            fmt.pop("size_bytes", None)
    return out


async def _lock_quotas(session: AsyncSession, org_id: str) -> None:
    # Counting and inserting under one org-wide transaction lock: two clones at the quota edge cannot both
    # see room. The lock is per org, so orgs never wait on each other.
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"recommendation_agent.clones:{org_id}"}
    )


async def _check_quotas(
    session: AsyncSession, org_id: str, template_id: str, owner: str, settings: RecommendationSettings
) -> None:
    c = clones.c
    counts = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(c.template_id == template_id),
                func.count().filter(c.owner == owner),
            ).where(c.org_id == org_id)
        )
    ).one()
    limits = (
        ("clones_per_org", settings.clones_per_org, counts[0], "this org"),
        ("clones_per_template_per_org", settings.clones_per_template_per_org, counts[1], f"template {template_id}"),
        ("clones_per_owner", settings.clones_per_owner, counts[2], f"owner {owner}"),
    )
    for name, limit, used, scope in limits:
        if used >= limit:
            raise Conflict(
                f"quota {name} ({limit}) reached: {scope} has {used} clones; delete one or ask for a higher "
                f"PLAYBOOKS_{name.upper()}",
                quota=name,
                limit=limit,
            )


async def clone(
    *,
    session: AsyncSession,
    org_id: str,
    template_id: str,
    actor: str,
    playbook_id: str | None,
    name: str | None,
    settings: RecommendationSettings,
    model: str,
) -> tuple[str, list[Key]]:
    """The org's own copy of a library template, owned by whoever asked; refused past any quota."""
    template = templates().get(template_id)
    if template is None:
        raise NotFound(f"no library template {template_id}: GET /api/playbook/library lists them")
    await _lock_quotas(session, org_id)
    await _check_quotas(session, org_id, template_id, actor, settings)
    new_id = playbook_id or f"{template_id}-{uuid.uuid4().hex[:8]}"
    await _check_new_id(session, org_id, new_id)
    tpl_version = template.key[1]
    doc = _clone_document(template, new_id, name)
    changed = await store_version(
        session,
        org_id=org_id,
        doc=doc,
        version="1.0.0",
        actor=actor,
        model=model,
        trusted=True,  # the library's own reviewed content, unchanged but for the clone's id and name
        reason=f"cloned from protected template {template_id}@{tpl_version}",
    )
    await session.execute(
        insert(clones).values(
            org_id=org_id,
            playbook_id=new_id,
            template_id=template_id,
            template_version=tpl_version,
            template_document=_strip_scripts(template.raw),
            owner=actor,
            created_by=actor,
        )
    )
    await audit(
        session,
        org_id=org_id,
        playbook_id=new_id,
        action="cloned",
        actor=actor,
        from_ref=f"template {template_id}@{tpl_version}",
        version="1.0.0",
        detail={"owner": actor},
    )
    return new_id, changed


async def _check_new_id(session: AsyncSession, org_id: str, new_id: str) -> None:
    """A clone's id is neither a template's nor one of the org's playbooks'."""
    if is_template(new_id):
        raise Conflict(f"{new_id} is a library template's id: give the clone an id of its own")
    c = playbook_versions.c
    taken = (
        await session.execute(select(c.version).where(c.org_id == org_id, c.playbook_id == new_id).limit(1))
    ).first()
    if taken is not None:
        raise Conflict(f"the org already has a playbook {new_id}: give the clone another id")


def _clone_document(template: library.LibraryPlaybook, new_id: str, name: str | None) -> dict[str, Any]:
    """The template's document as the clone's first version: its id and name, the user's, based on the template."""
    template_id, tpl_version = template.key
    doc = copy.deepcopy(template.raw)
    doc["metadata"].update(
        playbook_id=new_id,
        name=name or doc["metadata"]["name"],
        author="user_custom",
        based_on={"playbook_id": template_id, "version": tpl_version},
    )
    doc = {k: v for k, v in doc.items() if v is not None}
    doc["execution_formats"] = {k: v for k, v in doc["execution_formats"].items() if v}
    for fmt in doc["execution_formats"].values():
        fmt.pop("size_bytes", None)
    return doc


async def forget_if_gone(session: AsyncSession, org_id: str, playbook_id: str) -> None:
    """Once its last version is deleted, a clone no longer counts towards the quotas (its audit stays)."""
    c = playbook_versions.c
    left = (
        await session.execute(select(c.version).where(c.org_id == org_id, c.playbook_id == playbook_id).limit(1))
    ).first()
    if left is None:
        await session.execute(clones.delete().where(clones.c.org_id == org_id, clones.c.playbook_id == playbook_id))


async def lineage_of(session: AsyncSession, org_id: str, playbook_id: str) -> Any:
    c = clones.c
    return (await session.execute(select(clones).where(c.org_id == org_id, c.playbook_id == playbook_id))).first()


async def check_edit(session: AsyncSession, org_id: str, document: PlaybookDocument) -> None:
    """An org's own edit of a clone (a new version published): its lineage is the platform's record, not the
    document's to change."""
    meta = document.metadata
    refuse_template_edit(meta.playbook_id)
    row = await lineage_of(session, org_id, meta.playbook_id)
    if row is None:
        return
    based = meta.based_on
    if based is None or (based.playbook_id, based.version) != (row.template_id, row.template_version):
        raise Forbidden(
            f"{meta.playbook_id} is a clone of {row.template_id}@{row.template_version}: a new version keeps that "
            "lineage (metadata.based_on); it moves only by taking a template update"
        )


# -- field-level diff and three-way merge ----------------------------------------------------------


def _keyed(path: Path, value: Any) -> str | None:
    key = KEYED_LISTS.get(tuple(p for p in path if not p.startswith("[")))
    if key is None or not isinstance(value, list) or not value:
        return None
    if not all(isinstance(i, dict) and key in i for i in value):
        return None
    keys = [i[key] for i in value]
    return key if len(keys) == len(set(map(str, keys))) else None


def flatten(value: Any, path: Path = ()) -> dict[Path, Any]:
    """Leaves of a document by path; keyed lists become ``[key=value]`` segments."""
    if isinstance(value, dict) and value:
        out: dict[Path, Any] = {}
        for k, v in value.items():
            out |= flatten(v, (*path, str(k)))
        return out
    key = _keyed(path, value)
    if key is not None:
        out = {}
        for item in value:
            seg = f"[{key}={json.dumps(item[key])}]"
            out |= flatten(item, (*path, seg))
        return out
    return {path: value}


def unflatten(flat: dict[Path, Any]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node: Any = root
        for i, seg in enumerate(path):
            last = i == len(path) - 1
            if seg.startswith("["):
                name, _, raw = seg[1:-1].partition("=")
                item_key = json.loads(raw)
                item = next((x for x in node if x.get(name) == item_key), None)
                if item is None:
                    item = {name: item_key}
                    node.append(item)
                node = item
                continue
            nxt = path[i + 1] if not last else None
            if last:
                node[seg] = copy.deepcopy(value)
            else:
                if seg not in node or not isinstance(node[seg], dict | list):
                    node[seg] = [] if nxt is not None and nxt.startswith("[") else {}
                node = node[seg]
    return root


def _comparable(doc: dict[str, Any]) -> dict[Path, Any]:
    flat = flatten(_strip_scripts(doc))
    return {p: v for p, v in flat.items() if not (len(p) == 2 and p[0] == "metadata" and p[1] in STAMPS)}


def show(path: Path) -> str:
    return ".".join(path).replace(".[", "[")


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    a, b = _comparable(before), _comparable(after)
    out = []
    for path in [*a, *(p for p in b if p not in a)]:
        if path not in b:
            out.append(FieldChange.model_validate({"path": show(path), "op": "removed", "from": a[path]}))
        elif path not in a:
            out.append(FieldChange.model_validate({"path": show(path), "op": "added", "to": b[path]}))
        elif a[path] != b[path]:
            out.append(
                FieldChange.model_validate({"path": show(path), "op": "changed", "from": a[path], "to": b[path]})
            )
    return out


def merge(
    base: dict[str, Any], theirs: dict[str, Any], ours: dict[str, Any]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Three-way, field by field: what the template changed is taken where the org left it as it was; where the
    org edited a field the template also changed, the org's edit stays. The clone's identity never moves."""
    fb, ft, fo = flatten(_strip_scripts(base)), flatten(_strip_scripts(theirs)), flatten(_strip_scripts(ours))
    merged = dict(fo)
    taken, kept = [], []
    for path in [*fb, *(p for p in ft if p not in fb)]:
        if len(path) == 2 and path[0] == "metadata" and path[1] in (*IDENTITY_FIELDS[:2], *STAMPS):
            continue
        if fb.get(path, _MISSING) == ft.get(path, _MISSING):
            continue
        if fo.get(path, _MISSING) == fb.get(path, _MISSING):
            if path in ft:
                merged[path] = ft[path]
            else:
                merged.pop(path, None)
            taken.append(show(path))
        elif fo.get(path, _MISSING) != ft.get(path, _MISSING):
            kept.append(show(path))
    return unflatten(merged), taken, kept


_MISSING = object()


# -- template updates -----------------------------------------------------------------------------


def pending_update(row: Any) -> TemplateUpdate | None:
    """The template's newer version, with the field-level diff from the one the clone follows (unless dismissed)."""
    template = templates().get(row.template_id)
    if template is None:
        return None
    newest = template.key[1]
    if version_key(newest) <= version_key(row.template_version) or row.dismissed_version == newest:
        return None
    return TemplateUpdate(
        template_id=row.template_id,
        from_version=row.template_version,
        to_version=newest,
        diff=diff(row.template_document, template.raw),
    )


async def decide_template_update(
    *, session: AsyncSession, org_id: str, playbook_id: str, action: str, principal: Principal, model: str
) -> tuple[TemplateUpdateResult, list[Key]]:
    row = await lineage_of(session, org_id, playbook_id)
    if row is None:
        await current_row(session, org_id, playbook_id)
        raise Conflict(f"{playbook_id} is not a clone of a library template: it has no template to update from")
    await require_owner(session, org_id, playbook_id, principal, f"decide on template updates of {playbook_id}")
    c = clones.c
    row = (
        await session.execute(select(clones).where(c.org_id == org_id, c.playbook_id == playbook_id).with_for_update())
    ).one()
    update_ = pending_update(row)
    if update_ is None:
        raise Conflict(f"{row.template_id} has no version newer than {row.template_version} waiting for {playbook_id}")
    template = templates()[row.template_id]
    if action == "dismiss":
        await session.execute(
            update(clones)
            .where(c.org_id == org_id, c.playbook_id == playbook_id)
            .values(dismissed_version=update_.to_version)
        )
        await audit(
            session,
            org_id=org_id,
            playbook_id=playbook_id,
            action="template_update_dismissed",
            actor=principal.user_id,
            from_ref=f"template {row.template_id}@{update_.to_version}",
        )
        return TemplateUpdateResult(action="dismiss", template_version=update_.to_version, version=None), []
    return await _take_update(session, row, template, update_.to_version, principal.user_id, model)


async def _take_update(
    session: AsyncSession, row: Any, template: library.LibraryPlaybook, to_version: str, actor: str, model: str
) -> tuple[TemplateUpdateResult, list[Key]]:
    """The template's ``to_version`` merged into the clone's current version (``row`` is the clone's
    lineage, locked): a new version of the clone, the lineage moved on, the merge audited."""
    org_id, playbook_id, c = row.org_id, row.playbook_id, clones.c
    current = await current_row(session, org_id, playbook_id, lock=True)
    merged, taken, kept = merge(row.template_document, template.raw, current.document)
    merged["metadata"]["based_on"] = {"playbook_id": row.template_id, "version": to_version}
    # Scripts taken from the template bring their content (stored as the org's artifacts); kept ones are the
    # org's artifacts already.
    for fmt_name, fmt in (merged.get("execution_formats") or {}).items():
        lib_fmt = (template.raw.get("execution_formats") or {}).get(fmt_name)
        if fmt and lib_fmt and fmt.get("checksum") == lib_fmt.get("checksum"):
            fmt["content"] = lib_fmt["content"]
    await session.execute(
        update(clones)
        .where(c.org_id == org_id, c.playbook_id == playbook_id)
        .values(
            template_version=to_version,
            template_document=_strip_scripts(template.raw),
            dismissed_version=None,
        )
    )
    version = await next_version(session, org_id, playbook_id)
    changed = await store_version(
        session,
        org_id=org_id,
        doc=merged,
        version=version,
        actor=actor,
        model=model,
        trusted=is_trusted(current),
        reason=f"took template {row.template_id}@{to_version}",
    )
    await audit(
        session,
        org_id=org_id,
        playbook_id=playbook_id,
        action="template_update_taken",
        actor=actor,
        from_ref=f"template {row.template_id}@{to_version} onto version {current.version}",
        version=version,
        detail={"taken": taken, "kept": kept},
    )
    result = TemplateUpdateResult(action="take", template_version=to_version, version=version, taken=taken, kept=kept)
    return result, changed


# -- rollback -------------------------------------------------------------------------------------


async def rollback(
    *, session: AsyncSession, org_id: str, playbook_id: str, version: str, principal: Principal, model: str
) -> tuple[str, str, list[Key]]:
    """Any earlier version's content, restored as a new version (history is never rewritten)."""
    current = await current_row(session, org_id, playbook_id, lock=True)
    await require_owner(session, org_id, playbook_id, principal, f"roll back {playbook_id}")
    target = await service._get_row(session, org_id, playbook_id, version)
    doc = copy.deepcopy(target.document)
    lineage = await lineage_of(session, org_id, playbook_id)
    if lineage is not None:  # the content goes back; the lineage stays what the clone follows now
        doc["metadata"]["based_on"] = {"playbook_id": lineage.template_id, "version": lineage.template_version}
    new = await next_version(session, org_id, playbook_id)
    changed = await store_version(
        session,
        org_id=org_id,
        doc=doc,
        version=new,
        actor=principal.user_id,
        model=model,
        trusted=is_trusted(target),
        reason=f"rollback to {version}",
    )
    await audit(
        session,
        org_id=org_id,
        playbook_id=playbook_id,
        action="rolled_back",
        actor=principal.user_id,
        from_ref=f"version {version} (was at {current.version})",
        version=new,
    )
    status = "active" if is_trusted(target) else "pending_review"
    return new, status, changed


# -- read -----------------------------------------------------------------------------------------


async def list_clones(*, session: AsyncSession, org_id: str) -> list[CloneSummary]:
    """Every clone of the org, oldest first (the org's quota keeps this list short)."""
    c = clones.c
    rows = (await session.execute(select(clones).where(c.org_id == org_id).order_by(c.created_at, c.playbook_id))).all()
    return [
        CloneSummary(
            playbook_id=row.playbook_id,
            template_id=row.template_id,
            template_version=row.template_version,
            owner=row.owner,
            created_by=row.created_by,
            created_at=row.created_at,
            update_to=waiting.to_version if (waiting := pending_update(row)) is not None else None,
        )
        for row in rows
    ]


async def read(*, session: AsyncSession, org_id: str, playbook_id: str) -> OrgPlaybookRead:
    current = await current_row(session, org_id, playbook_id)
    c = playbook_versions.c
    versions = (
        await session.execute(
            select(c.version, c.status, c.storage_strategy, c.created_at)
            .where(c.org_id == org_id, c.playbook_id == playbook_id)
            .order_by(c.major, c.minor, c.patch)
        )
    ).all()
    row = await lineage_of(session, org_id, playbook_id)
    lineage = (
        Lineage(
            template_id=row.template_id,
            template_version=row.template_version,
            owner=row.owner,
            created_by=row.created_by,
            created_at=row.created_at,
        )
        if row is not None
        else None
    )
    return OrgPlaybookRead(
        playbook_id=playbook_id,
        owner=await owner_of(session, org_id, playbook_id),
        current=await service.get_version(
            session=session, org_id=org_id, playbook_id=playbook_id, version=current.version
        ),
        versions=[
            VersionSummary(
                version=v.version, status=v.status, storage_strategy=v.storage_strategy, created_at=v.created_at
            )
            for v in versions
        ],
        lineage=lineage,
        template_update=pending_update(row) if row is not None else None,
    )
