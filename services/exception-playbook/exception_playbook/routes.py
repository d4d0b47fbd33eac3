"""HTTP API of exception-playbook: exceptions and their playbooks, playbook versions, packs; org-scoped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import StringConstraints
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import utcnow
from playbooks_contracts.seeds import claimed_tenant_error
from playbooks_platform.auth import Principal
from playbooks_platform.db import after_commit
from playbooks_platform.dependencies import TenantSession
from playbooks_platform.errors import Forbidden, Invalid, NotFound
from playbooks_platform.permissions import Admin, Operator, Reader, Writer
from playbooks_platform.service import RuntimeDep

from . import events as ev
from . import flows, playbook_runs, service
from .matching import Facts, match
from .packs import DEFAULT_POLICY
from .playbook_runs import Actor
from .schemas import (
    EventList,
    EventRead,
    ExceptionCreate,
    ExceptionList,
    ExceptionPlaybook,
    ExceptionRead,
    ExceptionUpdate,
    MatchPreview,
    MatchPreviewIn,
    PackList,
    PackRead,
    PlaybookCreate,
    PlaybookList,
    PlaybookRead,
    RecalculateResult,
    StepActor,
    StepRead,
)
from .settings import SettingsDep

router = APIRouter(prefix="/api")

ExceptionRef = Annotated[
    str, Path(min_length=1, max_length=128, description="The exception's id, or the upstream system's id for it.")
]
StepOrder = Annotated[int, Path(ge=1, le=1000)]

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
}
_EXC: dict[int | str, dict[str, Any]] = _AUTH | {404: {"description": "No such exception in the caller's org"}}
_STEP: dict[int | str, dict[str, Any]] = _EXC | {
    403: {"description": "No 'operate' permission, a body claiming another actor, or a step the actor may not do"},
    409: {"description": "Not the next step, already completed, or a concurrent change won"},
    422: {"description": "The step cannot run as configured (e.g. unknown template)"},
}
_ADMIN: dict[int | str, dict[str, Any]] = _AUTH | {
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
    422: {"description": "Invalid document; the problem names the field"},
}


def _caller(principal: Principal) -> Actor:
    """The actor is the token: an ``agent`` token acts as an agent, any other as the person it names."""
    return Actor("agent" if "agent" in principal.roles else "human", principal.user_id)


def _actor(principal: Principal, body: StepActor) -> Actor:
    """The caller, with the body's notes; a body may repeat who the token is but never claim someone else."""
    caller = _caller(principal)
    if body.actor_type is not None and body.actor_type != caller.type:
        who = "an agent token" if caller.type == "agent" else "a person's token"
        raise Forbidden(
            f"{who} acts as actor_type {caller.type!r}, not {body.actor_type!r}: the actor comes from the token "
            "(an automation acts with a token holding the role 'agent'); leave actor_type out"
        )
    if body.actor_id not in (None, caller.id):
        raise Forbidden(
            f"the actor acts as themselves: actor_id must be {caller.id!r} (the token's user) or absent, "
            f"not {body.actor_id!r}"
        )
    return Actor(caller.type, caller.id, body.notes)


def _own_org(principal: Principal, tenant_id: str | None) -> None:
    """Seed 001's bodies name the org (``tenant_id``); here it comes from the token, and a body may only repeat it."""
    error = claimed_tenant_error(principal.org_id, tenant_id)
    if error:
        raise Forbidden(error)


_resolve = service.resolve_exception


# -- exceptions ---------------------------------------------------------------------------


@router.post(
    "/exceptions",
    tags=["exceptions"],
    status_code=status.HTTP_201_CREATED,
    responses=_AUTH | {409: {"description": "external_id already used"}, 422: {"description": "Invalid exception"}},
    summary="Create an exception; the best playbook is matched onto it at once",
)
async def create_exception(
    body: ExceptionCreate, principal: Operator, session: TenantSession, runtime: RuntimeDep
) -> ExceptionRead:
    _own_org(principal, body.tenant_id)
    outcome = await playbook_runs.create_exception(
        session=session,
        tenant_id=principal.org_id,
        body=body,
        cache=flows.candidate_cache(runtime),
        actor=_caller(principal),
    )
    after_commit(session, partial(flows.wake, runtime))
    return ExceptionRead.model_validate(outcome.exception)


@router.get("/exceptions", tags=["exceptions"], responses=_AUTH, summary="The org's exceptions, newest first")
async def list_exceptions(
    principal: Reader,
    session: TenantSession,
    status: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]] | None,
        Query(description="Only exceptions in this status; repeat for any of several."),
    ] = None,
    since: Annotated[datetime | None, Query(description="Only exceptions created at or after this time.")] = None,
    cursor: Annotated[str | None, Query(max_length=300, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ExceptionList:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is taken as UTC
    rows, next_cursor, count = await service.list_exceptions(
        session=session, tenant_id=principal.org_id, limit=limit, status=status or (), since=since, cursor=cursor
    )
    return ExceptionList(items=[ExceptionRead.model_validate(r) for r in rows], next_cursor=next_cursor, count=count)


@router.get("/exceptions/{exception_ref}", tags=["exceptions"], responses=_EXC, summary="One exception")
async def get_exception(exception_ref: ExceptionRef, principal: Reader, session: TenantSession) -> ExceptionRead:
    return ExceptionRead.model_validate(await _resolve(session, principal.org_id, exception_ref))


@router.patch(
    "/exceptions/{exception_ref}",
    tags=["exceptions"],
    responses=_EXC | {409: {"description": "A concurrent change won"}},
    summary="Change severity, SLA, tags, summary or attributes (a severity change re-runs matching)",
)
async def update_exception(
    exception_ref: ExceptionRef, body: ExceptionUpdate, principal: Operator, session: TenantSession, runtime: RuntimeDep
) -> ExceptionRead:
    _own_org(principal, body.tenant_id)
    changes = body.model_dump(exclude_unset=True, exclude={"tenant_id"})
    for key in ("severity", "policy_tags", "attributes"):
        if key in changes and changes[key] is None:
            changes.pop(key)
    exc = await _resolve(session, principal.org_id, exception_ref, for_update=True)
    outcome = await playbook_runs.update_exception(
        session=session,
        tenant_id=principal.org_id,
        exc=exc,
        changes=changes,
        cache=flows.candidate_cache(runtime),
        actor=_caller(principal),
    )
    after_commit(session, partial(flows.wake, runtime))
    return ExceptionRead.model_validate(outcome.exception)


@router.get(
    "/exceptions/{exception_ref}/playbook",
    tags=["exception playbook"],
    responses=_EXC,
    summary="The exception's playbook: name, version, steps with their status, the current step, the reasoning",
)
async def get_exception_playbook(
    exception_ref: ExceptionRef, principal: Reader, session: TenantSession, runtime: RuntimeDep
) -> ExceptionPlaybook:
    exc = await _resolve(session, principal.org_id, exception_ref)
    return await playbook_runs.playbook_view(
        session=session, tenant_id=principal.org_id, exc=exc, cache=flows.candidate_cache(runtime)
    )


@router.post(
    "/exceptions/{exception_ref}/playbook/recalculate",
    tags=["exception playbook"],
    responses=_EXC | {409: {"description": "A concurrent change won"}},
    summary="Match again (idempotent: nothing changed, nothing written; a playbook in progress is kept)",
)
async def recalculate(
    exception_ref: ExceptionRef, principal: Operator, session: TenantSession, runtime: RuntimeDep
) -> RecalculateResult:
    cache = flows.candidate_cache(runtime)
    exc = await _resolve(session, principal.org_id, exception_ref)
    outcome = await playbook_runs.recalculate(
        session=session, tenant_id=principal.org_id, exception_id=exc.id, cache=cache, actor=_caller(principal)
    )
    view = await playbook_runs.playbook_view(
        session=session, tenant_id=principal.org_id, exc=outcome.exception, cache=cache
    )
    after_commit(session, partial(flows.wake, runtime))
    result = RecalculateResult(**view.model_dump(), changed=outcome.changed)
    kept = outcome.result is not None and not outcome.changed and playbook_runs.in_progress(outcome.exception)
    if kept and outcome.result and outcome.result.playbook_id != outcome.exception.current_playbook_id:
        result.reasoning = (
            "A playbook is in progress on this exception and is kept. "
            f"Matching now would choose otherwise: {outcome.result.summary()}"
        )
    return result


def _step_route(verb: str, skip: bool, summary: str) -> None:
    async def act(
        exception_ref: ExceptionRef,
        step_order: StepOrder,
        principal: Operator,
        runtime: RuntimeDep,
        body: Annotated[StepActor | None, Body()] = None,
    ) -> ExceptionPlaybook:
        _own_org(principal, body.tenant_id if body else None)
        return await flows.advance_step(
            runtime,
            tenant_id=principal.org_id,
            exception_ref=exception_ref,
            step_order=step_order,
            actor=_actor(principal, body or StepActor()),
            skip=skip,
        )

    router.add_api_route(
        f"/exceptions/{{exception_ref}}/playbook/steps/{{step_order}}/{verb}",
        act,
        methods=["POST"],
        response_model=ExceptionPlaybook,
        responses=_STEP,
        tags=["exception playbook"],
        name=f"{verb}_step",
        summary=summary,
    )


_step_route("complete", False, "Complete the next step: its action runs (checked against the policy pack)")
_step_route("skip", True, "Skip the next step, where the step allows it")


@router.get(
    "/exceptions/{exception_ref}/events",
    tags=["exception playbook"],
    responses=_EXC,
    summary="The exception's append-only event log, oldest first",
)
async def list_events(exception_ref: ExceptionRef, principal: Reader, session: TenantSession) -> EventList:
    exc = await _resolve(session, principal.org_id, exception_ref)
    rows = await ev.timeline(session, tenant_id=principal.org_id, exception_id=exc.id)
    return EventList(
        items=[
            EventRead(
                id=r.id,
                exception_id=r.exception_id,
                event_type=r.event_type,
                actor_type=r.payload.get("actor_type"),
                actor_id=r.payload.get("actor_id"),
                payload=r.payload,
                created_at=r.created_at,
            )
            for r in rows
        ]
    )


# -- playbooks ----------------------------------------------------------------------------


async def _playbook_reads(session: AsyncSession, tenant_id: str, rows: list[Row[Any]]) -> list[PlaybookRead]:
    steps = await service.steps_of(session=session, tenant_id=tenant_id, playbook_ids=[r.playbook_id for r in rows])
    return [
        PlaybookRead(
            playbook_id=r.playbook_id,
            tenant_id=tenant_id,
            lineage_id=r.lineage_id,
            name=r.name,
            description=r.description,
            version=r.version,
            conditions=r.conditions,
            current=r.superseded_at is None,
            superseded_at=r.superseded_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            steps=[StepRead.model_validate(s) for s in steps[r.playbook_id]],
        )
        for r in rows
    ]


async def _one_playbook(session: AsyncSession, tenant_id: str, playbook_id: uuid.UUID) -> PlaybookRead:
    row = await service.get_playbook_row(session=session, tenant_id=tenant_id, playbook_id=playbook_id)
    return (await _playbook_reads(session, tenant_id, [row]))[0]


@router.post(
    "/playbooks",
    tags=["playbooks"],
    status_code=status.HTTP_201_CREATED,
    responses=_ADMIN,
    summary="Create a playbook (version 1) with its steps",
)
async def create_playbook(
    body: PlaybookCreate, principal: Writer, session: TenantSession, settings: SettingsDep
) -> PlaybookRead:
    _own_org(principal, body.tenant_id)
    if body.version not in (None, 1):
        raise Invalid(
            f"a new playbook is version 1, not {body.version}: POST /api/playbooks/{{playbook_id}}/versions makes the "
            "next version of an existing one"
        )
    playbook_id = await service.create_playbook(
        session=session, tenant_id=principal.org_id, body=body, max_per_tenant=settings.max_playbooks_per_tenant
    )
    read = await _one_playbook(session, principal.org_id, playbook_id)
    read.warnings = body.template_warnings
    return read


@router.get("/playbooks", tags=["playbooks"], responses=_AUTH, summary="The org's playbooks (current versions)")
async def list_playbooks(principal: Reader, session: TenantSession, include_superseded: bool = False) -> PlaybookList:
    rows = await service.list_playbooks(
        session=session, tenant_id=principal.org_id, include_superseded=include_superseded
    )
    return PlaybookList(items=await _playbook_reads(session, principal.org_id, rows))


@router.post(
    "/playbooks/match",
    tags=["playbooks"],
    responses=_AUTH,
    summary="Which playbook an exception like this would get, and why (changes nothing)",
)
async def preview_match(
    body: MatchPreviewIn, principal: Reader, session: TenantSession, runtime: RuntimeDep
) -> MatchPreview:
    _own_org(principal, body.tenant_id)
    candidates = await flows.candidate_cache(runtime).get(session, principal.org_id)
    facts = Facts(body.domain, body.exception_type, body.severity, body.sla_deadline, frozenset(body.policy_tags))
    result = match(facts, candidates, utcnow())
    return MatchPreview(playbook_id=result.playbook_id, reasoning=result.summary(), reasoning_details=result.details())


@router.get(
    "/playbooks/{playbook_id}",
    tags=["playbooks"],
    responses=_AUTH | {404: {"description": "No such playbook version in the org"}},
    summary="One playbook version with its steps",
)
async def get_playbook(playbook_id: uuid.UUID, principal: Reader, session: TenantSession) -> PlaybookRead:
    return await _one_playbook(session, principal.org_id, playbook_id)


@router.post(
    "/playbooks/{playbook_id}/versions",
    tags=["playbooks"],
    status_code=status.HTTP_201_CREATED,
    responses=_ADMIN | {404: {"description": "No such playbook"}, 409: {"description": "Not the current version"}},
    summary="Create the next version of a playbook (it supersedes the current one; runs in progress keep theirs)",
)
async def create_version(
    playbook_id: uuid.UUID, body: PlaybookCreate, principal: Writer, session: TenantSession
) -> PlaybookRead:
    _own_org(principal, body.tenant_id)
    new_id = await service.create_version(
        session=session, tenant_id=principal.org_id, playbook_id=playbook_id, body=body
    )
    read = await _one_playbook(session, principal.org_id, new_id)
    read.warnings = body.template_warnings
    return read


@router.get(
    "/playbooks/{playbook_id}/versions",
    tags=["playbooks"],
    responses=_AUTH | {404: {"description": "No such playbook"}},
    summary="Every version of the playbook's lineage, newest first",
)
async def list_versions(playbook_id: uuid.UUID, principal: Reader, session: TenantSession) -> PlaybookList:
    base = await service.get_playbook_row(session=session, tenant_id=principal.org_id, playbook_id=playbook_id)
    rows = await service.list_playbooks(
        session=session, tenant_id=principal.org_id, include_superseded=True, lineage_id=base.lineage_id
    )
    return PlaybookList(items=await _playbook_reads(session, principal.org_id, rows))


# -- packs --------------------------------------------------------------------------------


def _pack(row: Row[Any]) -> PackRead:
    return PackRead(
        kind=row.kind,
        name=row.name,
        version=row.version,
        document=row.document,
        created_by=row.created_by,
        created_at=row.created_at,
    )


DEFAULT_POLICY_READ = PackRead(
    kind="policy", name=service.POLICY_PACK_NAME, version=0, document=DEFAULT_POLICY.model_dump(mode="json")
)
Document = Annotated[dict[str, Any], Body(description="The pack document (see the PolicyPack / DomainPack schema).")]
Domain = Annotated[str, Path(min_length=1, max_length=128)]
Version = Annotated[int, Path(ge=1)]


@router.get("/policy-pack", tags=["packs"], responses=_AUTH, summary="The org's policy pack in force")
async def get_policy_pack(principal: Reader, session: TenantSession) -> PackRead:
    row = await service.get_pack(
        session=session, tenant_id=principal.org_id, kind="policy", name=service.POLICY_PACK_NAME
    )
    return _pack(row) if row else DEFAULT_POLICY_READ


@router.post(
    "/policy-pack/versions",
    tags=["packs"],
    status_code=status.HTTP_201_CREATED,
    responses=_ADMIN,
    summary="Write the next version of the org's policy pack (it applies at once)",
)
async def add_policy_pack(document: Document, principal: Admin, session: TenantSession) -> PackRead:
    row = await service.add_pack_version(
        session=session,
        tenant_id=principal.org_id,
        kind="policy",
        name=service.POLICY_PACK_NAME,
        document=document,
        created_by=principal.user_id,
    )
    return _pack(row)


@router.get("/policy-pack/versions", tags=["packs"], responses=_AUTH, summary="Every version of the policy pack")
async def list_policy_packs(principal: Reader, session: TenantSession) -> PackList:
    rows = await service.list_packs(session=session, tenant_id=principal.org_id, kind="policy", all_versions=True)
    return PackList(items=[_pack(r) for r in rows])


@router.get(
    "/policy-pack/versions/{version}",
    tags=["packs"],
    responses=_AUTH | {404: {"description": "No such version"}},
    summary="One version of the policy pack",
)
async def get_policy_pack_version(version: Version, principal: Reader, session: TenantSession) -> PackRead:
    row = await service.get_pack(
        session=session, tenant_id=principal.org_id, kind="policy", name=service.POLICY_PACK_NAME, version=version
    )
    if row is None:
        raise NotFound(f"the policy pack has no version {version}")
    return _pack(row)


@router.get("/domain-packs", tags=["packs"], responses=_AUTH, summary="The newest domain pack of each domain")
async def list_domain_packs(principal: Reader, session: TenantSession) -> PackList:
    rows = await service.list_packs(session=session, tenant_id=principal.org_id, kind="domain")
    return PackList(items=[_pack(r) for r in rows])


@router.post(
    "/domain-packs/{domain}/versions",
    tags=["packs"],
    status_code=status.HTTP_201_CREATED,
    responses=_ADMIN,
    summary="Write the next version of a domain's pack (it applies at once)",
)
async def add_domain_pack(domain: Domain, document: Document, principal: Admin, session: TenantSession) -> PackRead:
    row = await service.add_pack_version(
        session=session,
        tenant_id=principal.org_id,
        kind="domain",
        name=service.domain_key(domain),
        document=document,
        created_by=principal.user_id,
    )
    return _pack(row)


@router.get(
    "/domain-packs/{domain}",
    tags=["packs"],
    responses=_AUTH | {404: {"description": "No pack for this domain"}},
    summary="The newest pack of a domain",
)
async def get_domain_pack(domain: Domain, principal: Reader, session: TenantSession) -> PackRead:
    return await _domain_pack(domain, None, principal, session)


@router.get(
    "/domain-packs/{domain}/versions",
    tags=["packs"],
    responses=_AUTH,
    summary="Every version of a domain's pack",
)
async def list_domain_pack_versions(domain: Domain, principal: Reader, session: TenantSession) -> PackList:
    rows = await service.list_packs(
        session=session,
        tenant_id=principal.org_id,
        kind="domain",
        name=service.domain_key(domain),
        all_versions=True,
    )
    return PackList(items=[_pack(r) for r in rows])


@router.get(
    "/domain-packs/{domain}/versions/{version}",
    tags=["packs"],
    responses=_AUTH | {404: {"description": "No such version"}},
    summary="One version of a domain's pack",
)
async def get_domain_pack_version(
    domain: Domain, version: Version, principal: Reader, session: TenantSession
) -> PackRead:
    return await _domain_pack(domain, version, principal, session)


async def _domain_pack(domain: str, version: int | None, principal: Principal, session: AsyncSession) -> PackRead:
    row = await service.get_pack(
        session=session, tenant_id=principal.org_id, kind="domain", name=service.domain_key(domain), version=version
    )
    if row is None:
        which = f"version {version} of " if version else ""
        raise NotFound(f"no {which}domain pack for {domain!r}; POST /api/domain-packs/{domain}/versions writes one")
    return _pack(row)
