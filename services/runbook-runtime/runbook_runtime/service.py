"""Runs stored in PostgreSQL: create, advance, evidence, approvals, trace; outbox messages.

Functions take the caller's session and never commit, so a run's state, its step results, its
trace and the messages announcing them commit together.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, derived_id
from playbooks_contracts.messages import PlaybookExecuted, RunbookStepResult
from playbooks_contracts.policy import ApprovalFloor
from playbooks_contracts.runbook import Runbook, RunbookInvalid, parse_runbook
from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_STEP_RESULTS
from playbooks_platform.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from playbooks_platform.outbox import add_to_outbox

from . import org_policy
from .engine import Engine, EngineConflict, EngineError, EngineRefused, NullRecorder, new_state, runbook_digest, verify
from .governance import GovernanceError, which_real
from .models import SCHEMA, attachments, runs, snapshots, step_results, trace_events
from .redaction import Redactor
from .scenario import Scenario
from .state import Mode, RunState, StepEvidence

SOURCE = "runbook-runtime"
# A run in one of these accepts nothing more: no evidence, approval, step or snapshot (409).
ENDED = frozenset({"passed", "failed", "rejected", "cancelled"})


def ensure_open(row: dict[str, Any]) -> None:
    if row["status"] in ENDED:
        raise Conflict(f"run {row['run_id']} has ended ({row['status']}): it accepts nothing more")


def redactor_for(row: dict[str, Any]) -> Redactor:
    """The run's redaction (its rules and the values of its secret vars), for the sinks outside the engine."""
    return Redactor.for_run(parse_runbook(row["runbook"]), RunState.model_validate(row["state"]).vars)


async def check_replay_evidence(
    session: AsyncSession, org_id: str, mode: str, evidence: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """(evidence to keep, what was refused). Recorded evidence only means something in a replay run,
    and a recorded attachment only counts when this org stores a blob with its sha256."""
    if not evidence:
        return None, []
    if mode != "replay":
        raise Invalid("replay_evidence is only for replay runs: a real run takes evidence from people, as it happens")
    parsed: dict[str, StepEvidence] = {}
    for step_id, saved in evidence.items():
        try:
            parsed[step_id] = StepEvidence.model_validate(saved)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Invalid(f"replay_evidence.{step_id}.{where}: {first['msg']}") from None
    claimed = {a.sha256.lower() for ev in parsed.values() for a in ev.attachments.values()}
    stored: dict[str, int] = {}
    if claimed:
        digest = sa.func.encode(sa.func.sha256(attachments.c.content), "hex")
        query = sa.select(digest, sa.func.length(attachments.c.content)).where(
            attachments.c.org_id == org_id, digest.in_(sorted(claimed))
        )
        stored = {d: n for d, n in (await session.execute(query)).all()}
    refused = []
    for step_id, ev in parsed.items():
        for name, att in list(ev.attachments.items()):
            if att.sha256.lower() not in stored:
                refused.append(f"{step_id}.{name}: no stored attachment has sha256 {att.sha256[:16]}…")
                del ev.attachments[name]
            else:
                att.size = stored[att.sha256.lower()]
    return {k: v.model_dump(mode="json") for k, v in parsed.items()}, refused


@dataclass
class DbRecorder:
    """Collects what the engine records; ``persist`` writes it in the caller's transaction."""

    events: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def snapshot(self, state: RunState, name: str) -> None:
        self.snapshots[name] = state.model_dump(mode="json")

    def store_attachment(self, relpath: str, data: bytes) -> None:
        self.files[relpath] = data


def _problems(exc: RunbookInvalid) -> list[dict[str, str]]:
    return [p.model_dump() for p in exc.problems]


def check_runbook(doc: dict[str, Any]) -> Any:
    try:
        return parse_runbook(doc)
    except RunbookInvalid as exc:
        raise Invalid(f"invalid runbook: {'; '.join(map(str, exc.problems))}", problems=_problems(exc)) from None


def check_scenario(doc: dict[str, Any] | None, mode: str) -> Scenario | None:
    if mode == "replay" and doc is None:
        raise Invalid("replay mode needs a scenario (cli-replay format)")
    if doc is None:
        return None
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"invalid scenario at {where}: {first['msg']} ({exc.error_count()} problem(s))") from None


async def create_run(
    *,
    session: AsyncSession,
    org_id: str,
    idempotency_key: str,
    runbook_doc: dict[str, Any],
    mode: Mode,
    vars_: dict[str, str],
    scenario: dict[str, Any] | None = None,
    replay_evidence: dict[str, Any] | None = None,
    actor: str,
    playbook_id: str | None = None,
    playbook_version: str | None = None,
    operator_commands: list[str],
    approval_floor: ApprovalFloor | None = None,
) -> tuple[dict[str, Any], bool]:
    """(run row, created). The same idempotency key returns the existing run untouched."""
    existing = (
        (
            await session.execute(
                sa.select(runs).where(runs.c.org_id == org_id, runs.c.idempotency_key == idempotency_key)
            )
        )
        .mappings()
        .first()
    )
    if existing is not None:
        return dict(existing), False
    runbook = check_runbook(runbook_doc)
    check_scenario(scenario, mode)
    replay_evidence, refused = await check_replay_evidence(session, org_id, mode, replay_evidence)
    floor = approval_floor or (await org_policy.get_policy(session=session, org_id=org_id)).approvals
    run_id = str(derived_id("runbook-run", org_id, idempotency_key))
    try:
        # the service never lends its own environment to templates: vars come from the runbook and the request
        state = new_state(
            runbook,
            run_id=run_id,
            runbook_path=f"inline:{runbook.meta.name}",
            digest=runbook_digest(_canonical(runbook_doc)),
            mode=mode,
            actor=actor,
            vars_=vars_,
            env={},
        )
        redact = Redactor.for_run(runbook, state.vars)
    except GovernanceError as exc:
        raise Invalid(str(exc)) from None
    plan = None
    recorder = DbRecorder()
    if mode == "dry-run":
        state.status = "planned"
        engine = Engine(
            capped(runbook, operator_commands), state, NullRecorder(), runner=_nothing, approval_floor=floor
        )
        plan = redact.tree(engine.plan())
    else:
        recorder.event(
            {"event": "run_started", "run_id": run_id, "mode": mode, "actor": actor, "digest": state.runbook_digest}
        )
        if refused:
            recorder.event({"event": "replay_evidence_refused", "run_id": run_id, "mode": mode, "refused": refused})
        recorder.snapshot(redact.model(state), "step-0000.json")
    row = {
        "run_id": run_id,
        "org_id": org_id,
        "idempotency_key": idempotency_key,
        "mode": mode,
        "status": state.status,
        "runbook": runbook_doc,
        "scenario": scenario,
        "replay_evidence": replay_evidence,
        "state": state.model_dump(mode="json"),
        "plan": plan,
        "playbook_id": playbook_id,
        "playbook_version": playbook_version,
        "requested_by": actor,
    }
    inserted = await session.execute(pg_insert(runs).values(**row).on_conflict_do_nothing().returning(runs.c.run_id))
    if inserted.first() is None:  # a concurrent request with the same key won
        return await create_run(
            session=session,
            org_id=org_id,
            idempotency_key=idempotency_key,
            runbook_doc=runbook_doc,
            mode=mode,
            vars_=vars_,
            actor=actor,
            operator_commands=operator_commands,
            approval_floor=floor,
        )
    await _write_records(session, org_id, run_id, recorder)
    return await get_run(session=session, org_id=org_id, run_id=run_id), True


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def _nothing(argv: list[str], stdin: str | None, timeout: float) -> Any:
    raise EngineError("dry-run executes nothing")


async def get_run(*, session: AsyncSession, org_id: str, run_id: str, lock: bool = False) -> dict[str, Any]:
    query = sa.select(runs).where(runs.c.org_id == org_id, runs.c.run_id == run_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no run {run_id} in this org")
    return dict(row)


async def list_runs(*, session: AsyncSession, org_id: str, limit: int = 50) -> list[dict[str, Any]]:
    query = sa.select(runs).where(runs.c.org_id == org_id).order_by(runs.c.created_at.desc()).limit(limit)
    return [dict(r) for r in (await session.execute(query)).mappings()]


def capped(runbook: Runbook, operator_commands: list[str]) -> Runbook:
    """The runbook with its allow-list narrowed to what the service's operator permits.

    A runbook is data anyone in an org may submit; without this cap, a runbook allowing ``sh``
    would make the service run whatever it is given.
    """
    permitted = {p for p in (which_real(c, None) for c in operator_commands) if p is not None}
    governance = runbook.meta.governance
    keep = [c for c in governance.allowed_commands if which_real(c, None) in permitted]
    meta = runbook.meta.model_copy(update={"governance": governance.model_copy(update={"allowed_commands": keep})})
    return runbook.model_copy(update={"meta": meta})


def engine_for(
    row: dict[str, Any],
    recorder: DbRecorder,
    *,
    operator_commands: list[str] | None = None,
    approval_floor: ApprovalFloor | None = None,
) -> Engine:
    """The run's engine; without ``operator_commands`` it only inspects and never executes."""
    runbook = parse_runbook(row["runbook"])
    state = RunState.model_validate(row["state"])
    scenario = Scenario.model_validate(row["scenario"]) if row["scenario"] else None
    floor = approval_floor or ApprovalFloor()
    if operator_commands is None:
        return Engine(runbook, state, recorder, runner=_nothing, approval_floor=floor)
    if row["mode"] == "real":
        runbook = capped(runbook, operator_commands)
    return Engine(
        runbook,
        state,
        recorder,
        scenario=scenario,
        replay_evidence=row["replay_evidence"] or {},
        approval_floor=floor,
    )


async def operate(
    *,
    session: AsyncSession,
    org_id: str,
    run_id: str,
    action: Any,
    operator_commands: list[str],
    blocking: bool = False,
) -> Any:
    """Apply ``action(engine)`` to a locked run and persist everything it recorded."""
    row = await get_run(session=session, org_id=org_id, run_id=run_id, lock=True)
    if row["mode"] == "dry-run":
        raise InvalidTransition("a dry-run run only holds its plan; create a real or replay run to execute")
    ensure_open(row)
    floor = (await org_policy.get_policy(session=session, org_id=org_id)).approvals
    recorder = DbRecorder()
    engine = engine_for(row, recorder, operator_commands=operator_commands, approval_floor=floor)
    before = len(engine.state.history)
    was_finished = engine.state.status in ("passed", "failed")
    try:
        # real commands block: keep them off the event loop
        outcome = await asyncio.to_thread(action, engine) if blocking or row["mode"] == "real" else action(engine)
    except EngineConflict as exc:
        raise Conflict(engine.redact(str(exc))) from None
    except EngineRefused as exc:
        raise Forbidden(engine.redact(str(exc))) from None
    except (EngineError, GovernanceError) as exc:
        raise Invalid(engine.redact(str(exc))) from None
    state = engine.state
    await session.execute(
        sa.update(runs)
        .where(runs.c.run_id == run_id, runs.c.org_id == org_id)
        .values(state=state.model_dump(mode="json"), status=state.status, updated_at=sa.func.now())
    )
    new_results = state.history[before:]
    if new_results:
        await session.execute(
            sa.insert(step_results),
            [
                {
                    "run_id": run_id,
                    "seq": before + i,
                    "org_id": org_id,
                    "step_id": r.step_id,
                    "status": r.status,
                    "result": r.model_dump(mode="json"),
                }
                for i, r in enumerate(new_results)
            ],
        )
    await _write_records(session, org_id, run_id, recorder)
    messages = [
        (
            RUNBOOK_STEP_RESULTS,
            Envelope(
                id=derived_id("runbook-step-result", run_id, before + i),
                type="runbook.step_result",
                org_id=org_id,
                source=SOURCE,
                data=RunbookStepResult(
                    run_id=run_id,
                    step_id=r.step_id,
                    status=r.status,
                    actor=r.actor,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                    attempts=r.attempts,
                    error=r.error,
                    replay=r.replay,
                ).model_dump(mode="json"),
            ),
        )
        for i, r in enumerate(new_results)
    ]
    finished = state.status in ("passed", "failed")
    if finished and not was_finished and state.mode == "real" and row["mode"] == "real":
        # replay runs are tests of the runbook, not executions: they never count towards success rates.
        # Rejected and cancelled runs did not execute to an outcome either.
        meta = engine.runbook.meta
        messages.append(
            (
                PLAYBOOK_EXECUTIONS,
                Envelope(
                    id=derived_id("playbook-executed", run_id),
                    type="playbook.executed",
                    org_id=org_id,
                    source=SOURCE,
                    data=PlaybookExecuted(
                        playbook_id=row["playbook_id"] or meta.name,
                        version=row["playbook_version"] or meta.version or state.runbook_digest[7:19],
                        run_id=run_id,
                        success=state.status == "passed",
                        duration_ms=int((state.history[-1].ended_at - state.started_at).total_seconds() * 1000),
                        error=next((r.error for r in reversed(state.history) if r.status == "failed"), None),
                    ).model_dump(mode="json"),
                ),
            )
        )
    await add_to_outbox(session, SCHEMA, messages)
    return outcome


async def _write_records(session: AsyncSession, org_id: str, run_id: str, recorder: DbRecorder) -> None:
    if recorder.events:
        await session.execute(
            sa.insert(trace_events), [{"run_id": run_id, "org_id": org_id, "event": e} for e in recorder.events]
        )
    if recorder.snapshots:
        stmt = pg_insert(snapshots).values(
            [{"run_id": run_id, "org_id": org_id, "name": n, "state": s} for n, s in recorder.snapshots.items()]
        )
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["run_id", "name"], set_={"state": stmt.excluded.state})
        )
    if recorder.files:
        await session.execute(
            sa.insert(attachments),
            [{"run_id": run_id, "org_id": org_id, "path": p, "content": c} for p, c in recorder.files.items()],
        )


async def trace(*, session: AsyncSession, org_id: str, run_id: str) -> list[dict[str, Any]]:
    await get_run(session=session, org_id=org_id, run_id=run_id)
    query = sa.select(trace_events.c.event).where(trace_events.c.org_id == org_id, trace_events.c.run_id == run_id)
    return list((await session.execute(query.order_by(trace_events.c.id))).scalars())


async def list_snapshots(*, session: AsyncSession, org_id: str, run_id: str) -> list[str]:
    await get_run(session=session, org_id=org_id, run_id=run_id)
    query = sa.select(snapshots.c.name).where(snapshots.c.org_id == org_id, snapshots.c.run_id == run_id)
    return list((await session.execute(query.order_by(snapshots.c.created_at, snapshots.c.name))).scalars())


async def get_snapshot(*, session: AsyncSession, org_id: str, run_id: str, name: str) -> dict[str, Any]:
    query = sa.select(snapshots.c.state).where(
        snapshots.c.org_id == org_id, snapshots.c.run_id == run_id, snapshots.c.name == name
    )
    state = (await session.execute(query)).scalar()
    if state is None:
        raise NotFound(f"run {run_id} has no snapshot {name!r}")
    return dict(state)


def verify_row(row: dict[str, Any]) -> list[str]:
    return verify(parse_runbook(row["runbook"]), RunState.model_validate(row["state"]))


def new_idempotency_key() -> str:
    return str(uuid.uuid4())
