"""HTTP API of condition-engine: playbooks, templates, dry-runs, runs, insights; all scoped to the token's org."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from playbooks_contracts.insights import DailyRuns, Window
from playbooks_platform.auth import Principal
from playbooks_platform.dependencies import TenantSession
from playbooks_platform.errors import Invalid
from playbooks_platform.permissions import Operator, Permission, Reader, Writer, check

from . import service
from .dryrun import dry_run, normalise
from .schemas import (
    DryRunIn,
    DryRunResult,
    FromTemplate,
    Insights,
    PlaybookCreate,
    PlaybookList,
    PlaybookRead,
    PlaybookUpdate,
    RunPage,
    RunRead,
    RunStatus,
    TemplateList,
    TemplateRead,
)
from .settings import SettingsDep
from .templates import TEMPLATES

router = APIRouter(prefix="/api")

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
}
_ONE: dict[int | str, dict[str, Any]] = _AUTH | {404: {"description": "No such playbook in the caller's org"}}
_WRITE: dict[int | str, dict[str, Any]] = _ONE | {
    422: {"description": "Invalid playbook; the problem names the condition or action index and the reason"}
}


def _read(row: Any) -> PlaybookRead:
    return PlaybookRead.model_validate(row, from_attributes=True)


def _may_go_live(principal: Principal, status: str) -> None:
    """Authors write playbooks; one that runs on the org's events is switched on by someone who may operate."""
    if status == "active":
        check(principal, Permission.OPERATE, doing="create, change or activate a playbook that is active")


@router.get("/playbook-templates", tags=["templates"], responses=_AUTH, summary="The system templates")
async def list_templates(principal: Reader) -> TemplateList:
    return TemplateList(items=[TemplateRead.model_validate(t) for t in TEMPLATES])


@router.post(
    "/playbook-templates/{key}/playbooks",
    tags=["templates"],
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE,
    summary="Create a playbook of the caller's org from a template",
)
async def create_from_template(
    key: str, principal: Writer, session: TenantSession, settings: SettingsDep, body: FromTemplate | None = None
) -> PlaybookRead:
    body = body or FromTemplate()
    _may_go_live(principal, body.status)
    row = await service.create_from_template(
        session=session,
        org_id=principal.org_id,
        key=key,
        name=body.name,
        status=body.status,
        max_per_org=settings.max_playbooks_per_org,
    )
    return _read(row)


@router.get("/playbooks", tags=["playbooks"], responses=_AUTH, summary="The org's playbooks")
async def list_playbooks(
    principal: Reader, session: TenantSession, status: Annotated[str | None, Query(max_length=32)] = None
) -> PlaybookList:
    rows = await service.list_playbooks(session=session, org_id=principal.org_id, status=status)
    return PlaybookList(items=[_read(r) for r in rows])


@router.post(
    "/playbooks",
    tags=["playbooks"],
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE,
    summary="Create a playbook (validated by the condition DSL)",
)
async def create_playbook(
    body: PlaybookCreate, principal: Writer, session: TenantSession, settings: SettingsDep
) -> PlaybookRead:
    _may_go_live(principal, body.status)
    row = await service.create_playbook(
        session=session,
        org_id=principal.org_id,
        name=body.name,
        trigger=body.trigger,
        conditions=body.conditions,
        actions=body.actions,
        status=body.status,
        max_per_org=settings.max_playbooks_per_org,
    )
    return _read(row).model_copy(update={"warnings": body.template_warnings})


@router.get("/playbooks/{playbook_id}", tags=["playbooks"], responses=_ONE, summary="One playbook")
async def get_playbook(playbook_id: uuid.UUID, principal: Reader, session: TenantSession) -> PlaybookRead:
    return _read(await service.get_playbook(session=session, org_id=principal.org_id, playbook_id=playbook_id))


@router.patch(
    "/playbooks/{playbook_id}", tags=["playbooks"], responses=_WRITE, summary="Change a playbook (a new version)"
)
async def update_playbook(
    playbook_id: uuid.UUID, body: PlaybookUpdate, principal: Writer, session: TenantSession
) -> PlaybookRead:
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Invalid("a field cannot be set to null; leave it out to keep it")
    current = await service.get_playbook(session=session, org_id=principal.org_id, playbook_id=playbook_id)
    # Changing a live playbook changes what runs on the next event: that is operating it, not drafting.
    _may_go_live(principal, current.status)
    row = await service.update_playbook(
        session=session, org_id=principal.org_id, playbook_id=playbook_id, changes=changes
    )
    return _read(row).model_copy(update={"warnings": body.template_warnings})


def _status_route(path: str, new_status: Literal["active", "inactive"], summary: str) -> None:
    async def change(playbook_id: uuid.UUID, principal: Operator, session: TenantSession) -> PlaybookRead:
        row = await service.set_status(
            session=session, org_id=principal.org_id, playbook_id=playbook_id, status=new_status
        )
        return _read(row)

    router.add_api_route(
        f"/playbooks/{{playbook_id}}/{path}",
        change,
        methods=["POST"],
        response_model=PlaybookRead,
        responses=_WRITE,
        tags=["playbooks"],
        name=f"{path}_playbook",
        summary=summary,
    )


_status_route("activate", "active", "Activate a playbook: it runs on the org's next matching events")
_status_route("deactivate", "inactive", "Deactivate a playbook: it stops running")


@router.delete(
    "/playbooks/{playbook_id}",
    tags=["playbooks"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ONE,
    summary="Delete a playbook and its run history",
)
async def delete_playbook(playbook_id: uuid.UUID, principal: Writer, session: TenantSession) -> None:
    await service.delete_playbook(session=session, org_id=principal.org_id, playbook_id=playbook_id)


@router.get(
    "/playbooks/{playbook_id}/dry-run",
    tags=["dry-run"],
    responses=_ONE,
    summary="What the playbook would do on a sample event built from its trigger and conditions",
)
async def dry_run_sample(playbook_id: uuid.UUID, principal: Operator, session: TenantSession) -> DryRunResult:
    row = await service.get_playbook(session=session, org_id=principal.org_id, playbook_id=playbook_id)
    return DryRunResult.model_validate(dry_run(row, principal.org_id, None))


@router.post(
    "/playbooks/{playbook_id}/dry-run",
    tags=["dry-run"],
    responses=_ONE | {422: {"description": "Not a valid event for the playbook's trigger"}},
    summary="What the playbook would do on the event sent",
)
async def dry_run_event(
    playbook_id: uuid.UUID, body: DryRunIn, principal: Operator, session: TenantSession
) -> DryRunResult:
    row = await service.get_playbook(session=session, org_id=principal.org_id, playbook_id=playbook_id)
    try:
        event = normalise(row.trigger, body.event)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return DryRunResult.model_validate(dry_run(row, principal.org_id, event, body.depth))


@router.get("/playbook-runs", tags=["runs"], responses=_AUTH, summary="The org's runs, newest first")
async def list_runs(
    principal: Reader,
    session: TenantSession,
    playbook: uuid.UUID | None = None,
    status: RunStatus | None = None,
    since: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    rows, next_cursor = await service.list_runs(
        session=session,
        org_id=principal.org_id,
        playbook_id=playbook,
        status=status,
        since=since,
        cursor=cursor,
        limit=limit,
    )
    return RunPage(items=[RunRead.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)


@router.get(
    "/playbook-runs/{run_id}",
    tags=["runs"],
    responses=_AUTH | {404: {"description": "No such run in the caller's org"}},
    summary="One run",
)
async def get_run(run_id: uuid.UUID, principal: Reader, session: TenantSession) -> RunRead:
    row = await service.get_run(session=session, org_id=principal.org_id, run_id=run_id)
    return RunRead.model_validate(row, from_attributes=True)


@router.get(
    "/insights/daily",
    tags=["insights"],
    responses=_AUTH,
    summary="Runs per day by status over the window (every day, oldest first), for the console's chart",
)
async def daily_insights(
    principal: Reader,
    session: TenantSession,
    window: Window = "7d",
    playbook: Annotated[uuid.UUID | None, Query(description="One playbook's runs only")] = None,
    category: Annotated[str | None, Query(max_length=100, description="One category's runs only")] = None,
) -> DailyRuns:
    return await service.daily(
        session=session, org_id=principal.org_id, window=window, playbook_id=playbook, category=category
    )


@router.get(
    "/insights/playbooks",
    tags=["insights"],
    responses=_AUTH,
    summary="Runs by status and last run, per category (contracts, decks, accounts) and per playbook",
)
async def playbook_insights(principal: Reader, session: TenantSession, window: Window = "7d") -> Insights:
    data = await service.insights(session=session, org_id=principal.org_id, window=window)
    return Insights.model_validate(data)
