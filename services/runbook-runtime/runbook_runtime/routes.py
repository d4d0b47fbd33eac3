"""HTTP API of runbook-runtime: runs, advancing, evidence, approvals, trace and snapshots.

Every route declares its permission: reading needs ``read``; dry-run and replay runs, advancing,
evidence and snapshots need ``operate``; a real run (starting or advancing it) also needs ``run``;
approving or rejecting a gate needs ``approve``. Every body leaves through the run's redaction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.insights import DailyRuns, Window
from playbooks_contracts.policy import ApprovalFloor, OrgPolicy
from playbooks_contracts.runbook import validate_runbook
from playbooks_platform.auth import Principal
from playbooks_platform.dependencies import TenantSession
from playbooks_platform.errors import Invalid, PayloadTooLarge
from playbooks_platform.permissions import Admin, Approver, Operator, Permission, Reader, check
from playbooks_platform.service import Runtime, RuntimeDep

from . import live, org_policy, published, service
from .engine import Engine, EngineError
from .flows import operate, start_run
from .run_request import RunRequest
from .schemas import (
    AdvanceResult,
    ApprovalIn,
    CancelIn,
    EvidenceIn,
    PublishedRunbook,
    RejectIn,
    RunbookPage,
    RunbookSummary,
    RunCreate,
    RunPage,
    RunRead,
    ValidateRead,
    VerifyRead,
    WaitingApprovals,
    WaitingStep,
)
from .settings import RunbookRuntimeSettings, SettingsDep
from .state import RunStatus, StepResult

router = APIRouter(prefix="/v1", tags=["runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="The same key returns the same run, never re-executed."
    ),
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission named in the problem, or four eyes forbid it"},
    404: {"description": "No such run in the caller's org"},
    409: {"description": "The run cannot do that in its current state"},
    422: {"description": "Invalid runbook, evidence or request; the problem says which"},
}


async def _org_policy(settings: RunbookRuntimeSettings, session: AsyncSession, org_id: str) -> OrgPolicy:
    return await org_policy.get_policy(session=session, org_id=org_id, default=settings.default_org_policy)


def to_read(row: dict[str, Any], floor: ApprovalFloor | None = None) -> RunRead:
    """The run as a body: every string in it through the run's redaction (secret vars, rules).

    A row read whole (``get_run``) is shown from its state; a listed row carries no runbook and no
    state, only the stored summary, which was redacted when it was written.
    """
    if "runbook" not in row:
        summary = row["summary"] or {}
        return RunRead(
            run_id=row["run_id"],
            mode=row["mode"],
            status=row["status"],
            current_step=row["current_step"],
            waiting_for=row["waiting_for"] if row["status"] == "waiting" else [],
            vars=summary.get("vars", {}),
            captures=summary.get("captures", {}),
            history=[],
            plan=row["plan"],
            playbook_id=row["playbook_id"],
            playbook_version=row["playbook_version"],
            runbook_name=row.get("runbook_name"),
            requested_by=row["requested_by"],
            replay=row["mode"] == "replay",
            ended_by=summary.get("ended_by"),
            end_reason=summary.get("end_reason"),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
    state = service.run_state(row)
    engine = service.engine_for(row, service.DbRecorder(), approval_floor=floor) if row["mode"] != "dry-run" else None
    step = engine.current() if engine is not None else None
    waiting = engine.waiting_for(step) if engine is not None and step is not None else []
    waiting_step = (
        _waiting_step(engine, step) if engine is not None and step is not None and state.status == "waiting" else None
    )
    read = RunRead(
        run_id=row["run_id"],
        mode=row["mode"],
        status=row["status"],
        current_step=step.id if step is not None else None,
        waiting_for=waiting if state.status == "waiting" else [],
        waiting_step=waiting_step,
        vars=state.vars,
        captures=state.captures,
        history=state.history,
        plan=row["plan"],
        playbook_id=row["playbook_id"],
        playbook_version=row["playbook_version"],
        runbook_name=row.get("runbook_name"),
        requested_by=row["requested_by"],
        replay=row["mode"] == "replay",
        ended_by=state.ended_by,
        end_reason=state.end_reason,
        artifacts=state.artifacts,
        checkpoint_plan=state.checkpoint_plan if state.status == "waiting" else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return service.redactor_for(row).model(read)


def _waiting_step(engine: Engine, step: Any) -> WaitingStep | None:
    """What the step the run waits at asks for, as its runbook declares it (the run's own copy)."""
    evidence = [item.model_dump() for item in getattr(step, "required_evidence", [])]
    gate = engine.checkpoint_gate() if step.checkpoint and not engine.confirmed(step) else None
    if gate is None and step.type == "manual":
        gate = engine.gate(step)
    if not (evidence or gate is not None or step.type in ("manual", "checkpoint") or step.checkpoint):
        return None
    return WaitingStep(
        id=step.id,
        type=step.type,
        title=step.title or step.id,
        instructions=getattr(step, "instructions", "") or "",
        required_evidence=evidence,
        approvals=WaitingApprovals(min=gate.min, roles=list(gate.step_roles), floor_roles=list(gate.floor_roles))
        if gate is not None
        else None,
        checkpoint=bool(step.checkpoint),
    )


async def _read(runtime: Runtime[RunbookRuntimeSettings], org_id: str, run_id: str) -> RunRead:
    async with runtime.database.tenant_transaction(org_id) as session:
        floor = (await _org_policy(runtime.settings, session, org_id)).approvals
        row = await service.get_run(session=session, org_id=org_id, run_id=run_id, history=True)
    # parsing the runbook and decoding up to max_steps results: off the loop
    return await asyncio.to_thread(to_read, row, floor)


@router.post("/runs", status_code=status.HTTP_201_CREATED, responses=_RESPONSES, summary="Create a run")
async def create_run(
    body: RunCreate,
    principal: Operator,
    runtime: RuntimeDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunRead:
    """Dry-run and replay runs need ``operate``; a real run executes commands and also needs ``run``."""
    if body.mode == "real":
        check(principal, Permission.RUN, doing="start a real run")
    runbook, playbook_id, playbook_version = body.runbook, body.playbook_id, body.playbook_version
    if body.runbook_id is not None:
        # the same lookup automation's requests use: one exact version the org published, or 404
        async with runtime.database.tenant_transaction(principal.org_id) as session:
            runbook = await published.get_published(
                session=session, org_id=principal.org_id, runbook_id=body.runbook_id, version=body.runbook_version or ""
            )
        # a published runbook is that playbook version (as in automation.admit)
        playbook_id = playbook_id or body.runbook_id
        playbook_version = playbook_version or body.runbook_version
    request = RunRequest(
        org_id=principal.org_id,
        idempotency_key=idempotency_key or service.new_idempotency_key(),
        actor=principal.user_id,
        mode=body.mode,
        runbook=runbook,
        runbook_ref=body.runbook_ref,
        vars=body.vars,
        scenario=body.scenario,
        replay_evidence=body.replay_evidence,
        playbook_id=playbook_id,
        playbook_version=playbook_version,
        start=body.start,
    )
    row, created = await start_run(runtime, settings, request)
    if not created:
        response.status_code = status.HTTP_200_OK
    return await _read(runtime, principal.org_id, row["run_id"])


@router.get("/runs", responses=_RESPONSES, summary="The caller's org's runs, newest first, filtered and paged")
async def list_runs(
    principal: Reader,
    session: TenantSession,
    settings: SettingsDep,
    status: Annotated[
        list[RunStatus] | None, Query(description="Only runs in this status; repeat for any of several.")
    ] = None,
    runbook: Annotated[
        str | None, Query(max_length=200, description="Only runs of the runbook with this name (meta.name).")
    ] = None,
    since: Annotated[datetime | None, Query(description="Only runs created at or after this time (ISO 8601).")] = None,
    cursor: Annotated[str | None, Query(max_length=300, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    """Each run's stored summary (no history): ``count`` is how many match in all, ``next_cursor`` the next page."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is taken as UTC, as every time here is
    floor = (await _org_policy(settings, session, principal.org_id)).approvals
    rows, next_cursor, count = await service.list_runs(
        session=session,
        org_id=principal.org_id,
        limit=limit,
        status=status or (),
        runbook=runbook,
        since=since,
        cursor=cursor,
    )
    return RunPage(items=[to_read(r, floor) for r in rows], next_cursor=next_cursor, count=count)


@router.get(
    "/insights/daily",
    responses=_RESPONSES,
    summary="Runs per day by status over the window (every day, oldest first), for the console's chart",
)
async def daily_insights(
    principal: Reader,
    session: TenantSession,
    window: Window = "7d",
    runbook: Annotated[str | None, Query(max_length=200, description="Only this runbook's runs (meta.name).")] = None,
) -> DailyRuns:
    return await service.daily(session=session, org_id=principal.org_id, window=window, runbook=runbook)


@router.get("/runs/{run_id}", responses=_RESPONSES, summary="Get a run")
async def get_run(run_id: str, principal: Reader, runtime: RuntimeDep) -> RunRead:
    return await _read(runtime, principal.org_id, run_id)


def _may_drive(principal: Principal, engine: Engine) -> None:
    """Advancing a real run executes its commands: that takes ``run``, as starting one does."""
    if engine.state.mode == "real":
        check(principal, Permission.RUN, doing="advance a real run")


async def _advance(
    runtime: Runtime[RunbookRuntimeSettings], principal: Principal, run_id: str, how: str
) -> AdvanceResult:
    org_id = principal.org_id

    def act(engine: Engine) -> list[StepResult]:
        _may_drive(principal, engine)
        if engine.done:
            raise EngineError(f"run {run_id} is finished ({engine.state.status})")
        if how == "next":
            result = engine.next()
            return [result] if result is not None else []
        return engine.continue_()

    results = await operate(runtime, org_id, run_id, act, what=how)
    return AdvanceResult(run=await _read(runtime, org_id, run_id), results=results)


@router.post("/runs/{run_id}/next", responses=_RESPONSES, summary="Run or complete the current step")
async def next_step(run_id: str, principal: Operator, runtime: RuntimeDep) -> AdvanceResult:
    return await _advance(runtime, principal, run_id, "next")


@router.post("/runs/{run_id}/continue", responses=_RESPONSES, summary="Advance until a pause, failure or the end")
async def continue_run(run_id: str, principal: Operator, runtime: RuntimeDep) -> AdvanceResult:
    return await _advance(runtime, principal, run_id, "continue")


@router.post("/runs/{run_id}/evidence", responses=_RESPONSES | {413: {"description": "Attachment too large"}})
async def submit_evidence(
    run_id: str, body: EvidenceIn, principal: Operator, runtime: RuntimeDep, settings: SettingsDep
) -> RunRead:
    """Submit text, checklist items or an attachment (base64) for a manual step."""
    data: bytes | None = None
    if body.content_base64 is not None:
        try:
            data = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("content_base64 is not valid base64") from None
        limit = settings.max_attachment_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"attachment is {len(data)} bytes, over the limit of {limit}")

    def act(engine: Engine) -> None:
        if data is not None:
            engine.attach(body.name, body.filename or body.name, data, step_id=body.step_id, actor=principal.user_id)
        else:
            engine.set_evidence(body.name, body.value or "", step_id=body.step_id, actor=principal.user_id)

    await operate(runtime, principal.org_id, run_id, act)
    return await _read(runtime, principal.org_id, run_id)


@router.post("/runs/{run_id}/approvals", responses=_RESPONSES)
async def approve(run_id: str, body: ApprovalIn, principal: Approver, runtime: RuntimeDep) -> RunRead:
    """Approve the gate as the caller: who and with which roles come from the token, never the body.
    At a checkpoint (``type: checkpoint`` or ``checkpoint: true``) this is the confirmation, given after
    reading the run's ``checkpoint_plan``.

    The run's requester cannot approve it, one person counts once, and the approver must hold a role
    of the org's floor and one of the step's roles (when the step names any)."""
    await operate(
        runtime,
        principal.org_id,
        run_id,
        lambda e: e.approve(principal.user_id, principal.roles, step_id=body.step_id, via="token"),
    )
    return await _read(runtime, principal.org_id, run_id)


@router.post("/runs/{run_id}/reject", responses=_RESPONSES, summary="Refuse the gate the run waits at")
async def reject(run_id: str, body: RejectIn, principal: Approver, runtime: RuntimeDep) -> RunRead:
    """The run ends ``rejected``; the reason and the caller are kept in the run and its trace."""
    await operate(
        runtime, principal.org_id, run_id, lambda e: e.reject(principal.user_id, body.reason, step_id=body.step_id)
    )
    return await _read(runtime, principal.org_id, run_id)


@router.post("/runs/{run_id}/cancel", responses=_RESPONSES, summary="Stop a run for good")
async def cancel(run_id: str, principal: Operator, runtime: RuntimeDep, body: CancelIn | None = None) -> RunRead:
    """The run ends ``cancelled``. Its requester may cancel it, and so may anyone holding ``run``."""

    def act(engine: Engine) -> None:
        if principal.user_id != engine.state.actor:
            check(principal, Permission.RUN, doing="cancel a run someone else requested")
        engine.cancel(principal.user_id, body.reason if body is not None else None)

    await operate(runtime, principal.org_id, run_id, act)
    return await _read(runtime, principal.org_id, run_id)


@router.get("/runs/{run_id}/trace", responses=_RESPONSES, summary="The run's trace events, in order")
async def get_trace(run_id: str, principal: Reader, session: TenantSession) -> list[dict[str, Any]]:
    return await service.trace(session=session, org_id=principal.org_id, run_id=run_id)


@router.get(
    "/runs/{run_id}/events",
    status_code=status.HTTP_200_OK,
    response_class=live.EventStreamResponse,
    responses=_RESPONSES
    | {
        200: {
            "description": "Server-sent events: each trace record (id: its 0-based place in the trace, event: its "
            "kind, data: the record as /trace returns it), `status` on a change of status or current step, `end` "
            "when the run has ended; then the stream closes.",
            "content": {live.MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        429: {"description": "The org, or the service, holds as many open streams as allowed"},
    },
    summary="Follow the run: its trace records and status as they happen (SSE)",
)
async def run_events(
    run_id: str,
    principal: Reader,
    runtime: RuntimeDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=40, description="Resume after this event id (sent on reconnect)."),
    ] = None,
    after: Annotated[
        int | None, Query(ge=-1, le=10**9, description="Resume after this event id (Last-Event-ID wins).")
    ] = None,
) -> Response:
    """Reconnecting with ``Last-Event-ID`` (or ``?after=``) sends the records after it, none twice. A comment
    line keeps an idle stream open; the stream closes after ``PLAYBOOKS_EVENT_STREAM_MAX_SECONDS``, and the
    client reconnects."""
    watch = live.run_watch(runtime.state, runtime.database, settings)
    return await live.open_stream(watch, principal.org_id, run_id, live.resume_after(last_event_id, after))


@router.get("/runs/{run_id}/snapshots", responses=_RESPONSES, summary="Names of the run's snapshots")
async def list_snapshots(run_id: str, principal: Reader, session: TenantSession) -> list[str]:
    return await service.list_snapshots(session=session, org_id=principal.org_id, run_id=run_id)


@router.post("/runs/{run_id}/snapshots", responses=_RESPONSES, summary="Take a snapshot now")
async def take_snapshot(run_id: str, principal: Operator, runtime: RuntimeDep) -> dict[str, str]:
    name = await operate(
        runtime, principal.org_id, run_id, lambda e: e.snapshot(f"step-{len(e.state.history):04d}-ondemand.json")
    )
    return {"name": name}


@router.get("/runs/{run_id}/snapshots/{name}", responses=_RESPONSES, summary="One snapshot (state, no history)")
async def get_snapshot(run_id: str, name: str, principal: Reader, session: TenantSession) -> dict[str, Any]:
    return await service.get_snapshot(session=session, org_id=principal.org_id, run_id=run_id, name=name)


@router.get("/runs/{run_id}/verify", responses=_RESPONSES, summary="What keeps the run from being complete")
async def verify_run(run_id: str, principal: Reader, runtime: RuntimeDep) -> VerifyRead:
    # read, then verify off the loop without holding the connection
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        row = await service.get_run(session=session, org_id=principal.org_id, run_id=run_id, history=True)
    problems = await asyncio.to_thread(service.verify_row, row)
    return VerifyRead(ok=not problems, problems=service.redactor_for(row).tree(problems))


def _summary(row: dict[str, Any]) -> RunbookSummary:
    doc = published.without_secret_defaults(row["document"])
    meta = doc.get("meta") or {}
    vars_ = {
        name: spec if isinstance(spec, dict) else {"default": spec} for name, spec in (meta.get("vars") or {}).items()
    }
    return RunbookSummary(
        runbook_id=row["runbook_id"],
        version=row["version"],
        name=meta.get("name", row["runbook_id"]),
        description=meta.get("description", ""),
        steps=len(doc.get("steps") or []),
        vars=vars_,
        published_at=row["created_at"],
        source=row["source"],
    )


@router.get(
    "/runbooks",
    tags=["runbooks"],
    responses=_RESPONSES,
    summary="The org's published runbooks, newest publication first",
)
async def list_runbooks(
    principal: Reader,
    session: TenantSession,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description=f"Words that must each appear (any case) in the id, name, description or a var's name; "
            f"at most {published.MAX_WORDS}.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=600, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunbookPage:
    """What the org may start by ``runbook_id`` and ``runbook_version`` (POST /v1/runs): each version once,
    with its vars (default, description, secret, allowed) for a run form; ``count`` is how many match."""
    try:
        words = published.search_words(q)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    rows, next_cursor, count = await published.list_published(
        session=session, org_id=principal.org_id, limit=limit, cursor=cursor, words=words
    )
    return RunbookPage(items=[_summary(r) for r in rows], next_cursor=next_cursor, count=count)


@router.get(
    "/runbooks/{runbook_id}/{version}",
    tags=["runbooks"],
    responses=_RESPONSES | {404: {"description": "No such published runbook in the caller's org"}},
    summary="One published runbook version, whole",
)
async def read_runbook(runbook_id: str, version: str, principal: Reader, session: TenantSession) -> PublishedRunbook:
    row = await published.published_row(
        session=session, org_id=principal.org_id, runbook_id=runbook_id, version=version
    )
    return PublishedRunbook(
        runbook_id=row["runbook_id"],
        version=row["version"],
        published_at=row["created_at"],
        source=row["source"],
        document=published.without_secret_defaults(row["document"]),
    )


@router.post(
    "/runbooks:validate",
    tags=["runbooks"],
    responses=_RESPONSES,
    summary="Every problem of a runbook document, located",
)
async def validate(
    document: dict[str, Any], principal: Reader, runtime: RuntimeDep, settings: SettingsDep
) -> ValidateRead:
    """Schema problems first; for a well-formed runbook, every command the org's effective policy refuses."""
    problems = [p.model_dump() for p in validate_runbook(document)]
    if not problems:
        # only a well-formed runbook needs the database
        async with runtime.database.tenant_transaction(principal.org_id) as session:
            problems = await service.policy_problems(
                session=session,
                org_id=principal.org_id,
                runbook_doc=document,
                operator_commands=settings.real_mode_commands,
                default_policy=settings.default_org_policy,
            )
    return ValidateRead(valid=not problems, problems=problems)


@router.get("/policy", tags=["policy"], responses=_RESPONSES, summary="The org's policy (commands, approvals floor)")
async def read_policy(principal: Reader, session: TenantSession, settings: SettingsDep) -> OrgPolicy:
    return await org_policy.get_policy(session=session, org_id=principal.org_id, default=settings.default_org_policy)


@router.put(
    "/policy",
    tags=["policy"],
    responses=_RESPONSES | {403: {"description": "Only the org's admins set its policy"}},
    summary="Replace the org's policy (admins)",
)
async def write_policy(body: OrgPolicy, principal: Admin, session: TenantSession) -> OrgPolicy:
    """Runbooks of the org may only narrow this policy; the operator's setting caps it."""
    return await org_policy.put_policy(session=session, org_id=principal.org_id, policy=body, actor=principal.user_id)
