"""HTTP API of runbook-runtime: runs, advancing, evidence, approvals, trace and snapshots."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from playbooks_contracts.runbook import validate_runbook
from playbooks_platform.auth import CurrentPrincipal
from playbooks_platform.errors import Forbidden, Invalid, PayloadTooLarge
from playbooks_platform.service import Runtime, RuntimeDep

from . import service
from .engine import Engine, EngineError
from .flows import operate, start_run
from .schemas import AdvanceResult, ApprovalIn, EvidenceIn, RunCreate, RunRead, ValidateRead, VerifyRead
from .settings import RunbookRuntimeSettings
from .state import StepResult

router = APIRouter(prefix="/v1", tags=["runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="The same key returns the same run, never re-executed."
    ),
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    404: {"description": "No such run in the caller's org"},
    409: {"description": "The run cannot do that in its current state"},
    422: {"description": "Invalid runbook, evidence or request; the problem says which"},
}


def _settings(runtime: Runtime) -> RunbookRuntimeSettings:
    return runtime.settings  # type: ignore[return-value]


def to_read(row: dict[str, Any]) -> RunRead:
    """A run as the API shows it, from the stored summary columns; only a run stored before those
    columns existed (no current step while unfinished) has its runbook parsed, and only here."""
    state = row.get("state") or {}
    current, waiting = row["current_step"], row["waiting_for"]
    if current is None and row["mode"] != "dry-run" and row["status"] in ("running", "waiting", "failed") and state:
        engine = service.engine_for(row, service.DbRecorder())
        current, waiting = service.summarise_run(engine).values()
    return RunRead(
        run_id=row["run_id"],
        mode=row["mode"],
        status=row["status"],
        current_step=current,
        waiting_for=waiting if row["status"] == "waiting" else [],
        vars=state.get("vars", row.get("vars")) or {},
        captures=state.get("captures", row.get("captures")) or {},
        history=[StepResult.model_validate_json(r) for r in row.get("history") or []],
        plan=row["plan"],
        playbook_id=row["playbook_id"],
        playbook_version=row["playbook_version"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _read(runtime: Runtime, org_id: str, run_id: str) -> RunRead:
    async with runtime.database.tenant_transaction(org_id) as session:
        row = await service.get_run(session=session, org_id=org_id, run_id=run_id, history=True)
    return await asyncio.to_thread(to_read, row)  # history of up to max_steps results: decoded off the loop


@router.post("/runs", status_code=status.HTTP_201_CREATED, responses=_RESPONSES, summary="Create a run")
async def create_run(
    body: RunCreate,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunRead:
    row, created = await start_run(
        runtime,
        _settings(runtime),
        org_id=principal.org_id,
        idempotency_key=idempotency_key or service.new_idempotency_key(),
        runbook=body.runbook,
        runbook_ref=body.runbook_ref,
        mode=body.mode,
        vars_=body.vars,
        scenario=body.scenario,
        replay_evidence=body.replay_evidence,
        actor=principal.user_id,
        playbook_id=body.playbook_id,
        playbook_version=body.playbook_version,
        start=body.start,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return await asyncio.to_thread(to_read, row)


@router.get("/runs", responses=_RESPONSES, summary="The caller's org's latest runs")
async def list_runs(principal: CurrentPrincipal, runtime: RuntimeDep, limit: int = 50) -> list[RunRead]:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        rows = await service.list_runs(session=session, org_id=principal.org_id, limit=max(1, min(limit, 200)))
    return [to_read(r) for r in rows]


@router.get("/runs/{run_id}", responses=_RESPONSES, summary="Get a run")
async def get_run(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> RunRead:
    return await _read(runtime, principal.org_id, run_id)


async def _advance(runtime: Runtime, org_id: str, run_id: str, how: str) -> AdvanceResult:
    def act(engine: Engine) -> list[StepResult]:
        if engine.done:
            raise EngineError(f"run {run_id} is finished ({engine.state.status})")
        if how == "next":
            result = engine.next()
            return [result] if result is not None else []
        return engine.continue_()

    results = await operate(runtime, org_id, run_id, act, what=how)
    return AdvanceResult(run=await _read(runtime, org_id, run_id), results=results)


@router.post("/runs/{run_id}/next", responses=_RESPONSES, summary="Run or complete the current step")
async def next_step(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> AdvanceResult:
    return await _advance(runtime, principal.org_id, run_id, "next")


@router.post("/runs/{run_id}/continue", responses=_RESPONSES, summary="Advance until a pause, failure or the end")
async def continue_run(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> AdvanceResult:
    return await _advance(runtime, principal.org_id, run_id, "continue")


@router.post("/runs/{run_id}/evidence", responses=_RESPONSES | {413: {"description": "Attachment too large"}})
async def submit_evidence(run_id: str, body: EvidenceIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> RunRead:
    """Submit text, checklist items or an attachment (base64) for a manual step."""
    data: bytes | None = None
    if body.content_base64 is not None:
        try:
            data = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("content_base64 is not valid base64") from None
        limit = _settings(runtime).max_attachment_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"attachment is {len(data)} bytes, over the limit of {limit}")

    def act(engine: Engine) -> None:
        if data is not None:
            engine.attach(body.name, body.filename or body.name, data, step_id=body.step_id, actor=principal.user_id)
        else:
            engine.set_evidence(body.name, body.value or "", step_id=body.step_id, actor=principal.user_id)  # type: ignore[arg-type]

    await operate(runtime, principal.org_id, run_id, act)
    return await _read(runtime, principal.org_id, run_id)


@router.post("/runs/{run_id}/approvals", responses=_RESPONSES | {403: {"description": "Role not held"}})
async def approve(run_id: str, body: ApprovalIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> RunRead:
    """Approve a manual step as the caller, with one of the caller's roles."""
    if body.role not in principal.roles:
        raise Forbidden(f"you do not hold the role {body.role!r} (your roles: {sorted(principal.roles)})")
    await operate(
        runtime, principal.org_id, run_id, lambda e: e.approve(principal.user_id, body.role, step_id=body.step_id)
    )
    return await _read(runtime, principal.org_id, run_id)


@router.get("/runs/{run_id}/trace", responses=_RESPONSES, summary="The run's trace events, in order")
async def get_trace(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[dict[str, Any]]:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        return await service.trace(session=session, org_id=principal.org_id, run_id=run_id)


@router.get("/runs/{run_id}/snapshots", responses=_RESPONSES, summary="Names of the run's snapshots")
async def list_snapshots(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[str]:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        return await service.list_snapshots(session=session, org_id=principal.org_id, run_id=run_id)


@router.post("/runs/{run_id}/snapshots", responses=_RESPONSES, summary="Take a snapshot now")
async def take_snapshot(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, str]:
    name = await operate(
        runtime, principal.org_id, run_id, lambda e: e.snapshot(f"step-{len(e.state.history):04d}-ondemand.json")
    )
    return {"name": name}


@router.get("/runs/{run_id}/snapshots/{name}", responses=_RESPONSES, summary="One snapshot (state, no history)")
async def get_snapshot(run_id: str, name: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        return await service.get_snapshot(session=session, org_id=principal.org_id, run_id=run_id, name=name)


@router.get("/runs/{run_id}/verify", responses=_RESPONSES, summary="What keeps the run from being complete")
async def verify_run(run_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> VerifyRead:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        row = await service.get_run(session=session, org_id=principal.org_id, run_id=run_id, history=True)
    problems = await asyncio.to_thread(service.verify_row, row)
    return VerifyRead(ok=not problems, problems=problems)


@router.post(
    "/runbooks:validate",
    tags=["runbooks"],
    responses=_RESPONSES,
    summary="Every problem of a runbook document, located",
)
async def validate(document: dict[str, Any], principal: CurrentPrincipal) -> ValidateRead:
    problems = validate_runbook(document)
    return ValidateRead(valid=not problems, problems=[p.model_dump() for p in problems])
