"""Runs stored in PostgreSQL: create, advance, evidence, approvals, trace; outbox messages.

Functions take the caller's session and never commit, so a run's state, its step results, its
trace and the messages announcing them commit together.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import derived_id
from playbooks_contracts.command_policy import Layer, layers_for
from playbooks_contracts.insights import DailyRuns, Window
from playbooks_contracts.messages import PlaybookExecuted, RunbookStepResult, requested_run_id
from playbooks_contracts.policy import ApprovalFloor, OrgPolicy
from playbooks_contracts.runbook import Runbook, RunbookInvalid, parse_runbook
from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_STEP_RESULTS
from playbooks_platform.cursors import decode_cursor, encode_cursor
from playbooks_platform.db import Database
from playbooks_platform.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from playbooks_platform.insights import daily_runs
from playbooks_platform.messages import Cause, Message, caused_or_new
from playbooks_platform.outbox import add_to_outbox

from . import announce, org_policy
from .engine import (
    Engine,
    EngineConflict,
    EngineError,
    EngineRefused,
    NullRecorder,
    new_state,
    refuse_to_run,
    runbook_digest,
    verify,
)
from .governance import GovernanceError, refused_commands
from .limits import Limits
from .limits import check as check_limits
from .models import SCHEMA, attachments, runs, snapshots, step_results, trace_events
from .models import artifacts as artifacts_table
from .redaction import Redactor
from .run_request import RunRequest
from .scenario import Scenario, ScenarioInvalid, parse_scenario
from .state import Artifact, RunState, StepEvidence, StepResult

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
        stored = {row[0]: row[1] for row in (await session.execute(query)).all()}
    refused = []
    for step_id, ev in parsed.items():
        for name, att in list(ev.attachments.items()):
            if att.sha256.lower() not in stored:
                refused.append(f"{step_id}.{name}: no stored attachment has sha256 {att.sha256[:16]}…")
                del ev.attachments[name]
            else:
                att.size = stored[att.sha256.lower()]
    return {k: v.model_dump(mode="json") for k, v in parsed.items()}, refused


LATEST_SNAPSHOT = "latest.json"


def snapshot_of(state: RunState) -> dict[str, Any]:
    """What a stored state (a snapshot, a run's ``state`` column) holds: the state without its history.

    The history lives in ``step_results`` (and the trace), one row per result, written once; a stored
    state's size does not grow with the number of steps before it.
    """
    return state.model_dump(mode="json", exclude={"history"})


def run_state(row: dict[str, Any]) -> RunState:
    """The run's state with its history, from a row read with ``get_run(..., history=True)``."""
    state = RunState.model_validate(row["state"] | {"history": []})
    state.history = [StepResult.model_validate_json(text) for text in row.get("history") or []]
    return state


@dataclass
class DbRecorder:
    """Collects what the engine records; ``persist`` writes it in the caller's transaction.

    At most ``cap`` snapshots per run: once ``cap - 1`` named ones exist (``stored`` are those already
    in the database), further snapshots update one rolling ``latest.json``.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)  # created by the run, for the org's registry
    cap: int | None = None
    stored: set[str] = field(default_factory=set)
    history_in_snapshots = False  # the history is in step_results: the engine leaves it out
    after_snapshot: Callable[[DbRecorder], None] | None = None

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def snapshot(self, state: RunState, name: str) -> str:
        named = (self.stored | self.snapshots.keys()) - {LATEST_SNAPSHOT}
        if self.cap is not None and name not in named and len(named) >= self.cap - 1:
            name = LATEST_SNAPSHOT
        self.snapshots[name] = snapshot_of(state)
        if self.after_snapshot is not None:
            self.after_snapshot(self)
        return name

    def store_attachment(self, relpath: str, data: bytes) -> None:
        self.files[relpath] = data


class DbArtifacts:
    """The org's artifact registry for an engine running in a worker thread.

    ``find`` asks the database through the event loop (a short org transaction: row-level security
    keeps it to the org); ``register`` only collects, and the artifact row is written with the step
    result that created it, in the same transaction."""

    def __init__(self, database: Database, org_id: str, recorder: DbRecorder, loop: asyncio.AbstractEventLoop) -> None:
        self.database, self.org_id, self.recorder, self.loop = database, org_id, recorder, loop

    async def _find(self, signature: str) -> Artifact | None:
        async with self.database.tenant_transaction(self.org_id) as session:
            return await find_artifact(session=session, org_id=self.org_id, signature=signature)

    def find(self, signature: str) -> Artifact | None:
        pending = next((a for a in self.recorder.artifacts if a.signature == signature), None)
        if pending is not None:
            return pending
        return asyncio.run_coroutine_threadsafe(self._find(signature), self.loop).result(timeout=60)

    def register(self, artifact: Artifact) -> None:
        self.recorder.artifacts.append(artifact)


async def find_artifact(*, session: AsyncSession, org_id: str, signature: str) -> Artifact | None:
    query = sa.select(artifacts_table).where(
        artifacts_table.c.org_id == org_id, artifacts_table.c.signature == signature
    )
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    return Artifact(
        name=row["name"],
        signature=row["signature"],
        step_id=row["step_id"],
        status="created",
        run_id=row["run_id"],
        created_at=row["created_at"],
    )


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
        return parse_scenario(doc)
    except ScenarioInvalid as exc:
        raise Invalid(str(exc)) from None


async def _run_by_key(session: AsyncSession, org_id: str, idempotency_key: str) -> dict[str, Any] | None:
    query = sa.select(runs).where(runs.c.org_id == org_id, runs.c.idempotency_key == idempotency_key)
    existing = (await session.execute(query)).mappings().first()
    return dict(existing) if existing is not None else None


async def create_run(
    *,
    session: AsyncSession,
    request: RunRequest,
    runbook_doc: dict[str, Any],
    operator_commands: list[str],
    default_policy: OrgPolicy | None = None,
    limits: Limits | None = None,
    cause: Cause | None = None,
) -> tuple[dict[str, Any], bool]:
    """(run row, created) for ``request``, whose runbook is ``runbook_doc``. The same idempotency key
    returns the existing run untouched.

    With ``limits``, a runbook or scenario asking for more than the operator's ceilings is refused.
    ``cause``: the consumed request the run is for; its announcement is caused by it."""
    org_id, mode = request.org_id, request.mode
    existing = await _run_by_key(session, org_id, request.idempotency_key)
    if existing is not None:
        return existing, False
    runbook = await _checked(runbook_doc, request, limits)
    replay_evidence, refused = await check_replay_evidence(session, org_id, mode, request.replay_evidence)
    org = await org_policy.get_policy(session=session, org_id=org_id, default=default_policy)
    run_id = requested_run_id(org_id, request.idempotency_key)
    state, redact = _first_state(runbook, runbook_doc, run_id, request)
    recorder = DbRecorder()
    plan = None
    if mode == "dry-run":
        state.status = "planned"
        layers = effective_layers(runbook, mode="dry-run", operator_commands=operator_commands, org=org)
        engine = Engine(
            runbook, state, NullRecorder(), runner=refuse_to_run, approval_floor=org.approvals, layers=layers
        )
        plan = redact.tree(await asyncio.to_thread(engine.plan))
        summary = {"summary": _summary(state, redact)}
    else:
        _record_start(recorder, state, redact, refused)
        engine = Engine(runbook, state, NullRecorder(), runner=refuse_to_run, approval_floor=org.approvals)
        summary = summarise_run(engine)
    row = {
        "run_id": run_id,
        "org_id": org_id,
        "idempotency_key": request.idempotency_key,
        "mode": mode,
        "status": state.status,
        "runbook": runbook_doc,
        "scenario": request.scenario,
        "replay_evidence": replay_evidence,
        "state": snapshot_of(state),
        "plan": plan,
        "playbook_id": request.playbook_id,
        "playbook_version": request.playbook_version,
        "requested_by": request.actor,
        "runbook_name": runbook.meta.name,
        "caused_by": cause.id if cause is not None else None,
        "cause_depth": cause.depth if cause is not None else None,
        **summary,
    }
    inserted = await session.execute(pg_insert(runs).values(**row).on_conflict_do_nothing().returning(runs.c.run_id))
    if inserted.first() is None:
        # a concurrent request with the same key won; its insert committed before this one gave way
        won = await _run_by_key(session, org_id, request.idempotency_key)
        if won is None:
            raise Conflict(f"run {run_id} is being created by another request; try again")
        return won, False
    await _write_records(session, org_id, run_id, recorder)
    # whoever asked for it follows it on runbook-runs.v1: a dry-run's plan, or that the run started
    await add_to_outbox(session, SCHEMA, [announce.of_row(row, cause=cause)])
    return await get_run(session=session, org_id=org_id, run_id=run_id), True


async def _checked(runbook_doc: dict[str, Any], request: RunRequest, limits: Limits | None) -> Runbook:
    """The request's runbook, and its scenario, parsed and within ``limits``; ``Invalid`` otherwise."""
    # validating user documents is CPU work that grows with their size: off the event loop
    runbook = await asyncio.to_thread(check_runbook, runbook_doc)
    parsed_scenario = await asyncio.to_thread(check_scenario, request.scenario, request.mode)
    if limits is not None:
        check_limits(runbook, parsed_scenario, limits)
    return runbook


def _first_state(
    runbook: Runbook, runbook_doc: dict[str, Any], run_id: str, request: RunRequest
) -> tuple[RunState, Redactor]:
    """The new run's state and its redaction; a runbook its governance refuses is invalid."""
    try:
        # the service never lends its own environment to templates: vars come from the runbook and the request
        state = new_state(
            runbook,
            run_id=run_id,
            runbook_path=f"inline:{runbook.meta.name}",
            digest=runbook_digest(_canonical(runbook_doc)),
            mode=request.mode,
            actor=request.actor,
            vars_=request.vars,
            env={},
        )
        return state, Redactor.for_run(runbook, state.vars)
    except GovernanceError as exc:
        raise Invalid(str(exc)) from None


def _record_start(recorder: DbRecorder, state: RunState, redact: Redactor, refused: list[str]) -> None:
    """A real or replay run's first records: run_started, the replay evidence refused, the first snapshot."""
    run_id, mode = state.run_id, state.mode
    recorder.event(
        {"event": "run_started", "run_id": run_id, "mode": mode, "actor": state.actor, "digest": state.runbook_digest}
    )
    if refused:
        recorder.event({"event": "replay_evidence_refused", "run_id": run_id, "mode": mode, "refused": refused})
    recorder.snapshot(redact.model(state), "step-0000.json")


def summarise_run(engine: Engine) -> dict[str, Any]:
    """The columns list endpoints show, written with the state and already through the run's redaction
    (the list has no runbook to build it from): current step, what a waiting step needs, vars, captures."""
    step = engine.current()
    waiting = engine.waiting_for(step) if step is not None and engine.state.status == "waiting" else []
    return {
        "current_step": step.id if step is not None else None,
        "waiting_for": engine.redact.tree(waiting),
        "summary": _summary(engine.state, engine.redact),
    }


def _summary(state: RunState, redact: Redactor) -> dict[str, Any]:
    return redact.tree(
        {"vars": state.vars, "captures": state.captures, "ended_by": state.ended_by, "end_reason": state.end_reason}
    )


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


async def get_run(
    *, session: AsyncSession, org_id: str, run_id: str, lock: bool = False, history: bool = False
) -> dict[str, Any]:
    """The run's row; with ``history``, its step results too (as JSON text: decoded by ``run_state``)."""
    query = sa.select(runs).where(runs.c.org_id == org_id, runs.c.run_id == run_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no run {run_id} in this org")
    out = dict(row)
    if history:
        query = (
            sa.select(sa.cast(step_results.c.result, sa.Text))
            .where(step_results.c.org_id == org_id, step_results.c.run_id == run_id)
            .order_by(step_results.c.seq)
        )
        out["history"] = list((await session.execute(query)).scalars())
    return out


SUMMARY_COLUMNS = (
    "run_id",
    "mode",
    "status",
    "current_step",
    "waiting_for",
    "plan",
    "playbook_id",
    "playbook_version",
    "requested_by",
    "runbook_name",
    "created_at",
    "updated_at",
    "summary",
)


async def list_runs(
    *,
    session: AsyncSession,
    org_id: str,
    limit: int = 50,
    status: Sequence[str] = (),
    runbook: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """(the page of runs' stored summaries, the next page's cursor, how many runs match in all).

    Newest first, keyset-paginated on (created_at, run_id) so pages stay stable while runs arrive; never the
    runbook, scenario or history, so nothing is parsed."""
    match = [runs.c.org_id == org_id]
    if status:
        match.append(runs.c.status.in_(list(status)))
    if runbook is not None:
        match.append(runs.c.runbook_name == runbook)
    if since is not None:
        match.append(runs.c.created_at >= since)
    count = (await session.execute(sa.select(sa.func.count()).select_from(runs).where(*match))).scalar_one()
    query = sa.select(*(runs.c[name] for name in SUMMARY_COLUMNS)).where(*match)
    if cursor is not None:
        at, after_id = decode_cursor(cursor)
        query = query.where(sa.tuple_(runs.c.created_at, runs.c.run_id) < sa.tuple_(sa.literal(at), after_id))
    query = query.order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit + 1)
    rows = [dict(r) for r in (await session.execute(query)).mappings()]
    next_cursor = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["run_id"]) if len(rows) > limit else None
    return rows[:limit], next_cursor, count


def effective_layers(
    runbook: Runbook, *, mode: str, operator_commands: list[str] | None, org: OrgPolicy | None
) -> list[Layer]:
    """The effective command policy: the operator's cap (for what runs for real, or plans to), the org's
    policy, the runbook's own governance; every layer must allow a command, so each can only narrow.

    A runbook is data anyone in an org may submit; without the cap, a runbook allowing ``sh`` would
    make the service run whatever it is given. Replay executes nothing, so the cap does not apply to it.
    """
    cap = operator_commands if mode in ("real", "dry-run") else None
    return layers_for(runbook.meta.governance, org=org, operator=cap)


async def policy_problems(
    *,
    session: AsyncSession,
    org_id: str,
    runbook_doc: dict[str, Any],
    operator_commands: list[str],
    default_policy: OrgPolicy | None = None,
) -> list[dict[str, str]]:
    """Every command of a (valid) runbook the effective policy of a real run in this org would refuse."""
    runbook = parse_runbook(runbook_doc)
    org = await org_policy.get_policy(session=session, org_id=org_id, default=default_policy)
    layers = effective_layers(runbook, mode="real", operator_commands=operator_commands, org=org)
    return [{"location": loc, "message": msg} for loc, msg in refused_commands(runbook, layers)]


def engine_for(
    row: dict[str, Any],
    recorder: DbRecorder,
    *,
    operator_commands: list[str] | None = None,
    org: OrgPolicy | None = None,
    limits: Limits | None = None,
    approval_floor: ApprovalFloor | None = None,
    artifacts: Any = None,
) -> Engine:
    """The run's engine; without ``operator_commands`` it only inspects and never executes."""
    runbook = parse_runbook(row["runbook"])
    state = run_state(row)
    floor = approval_floor or ApprovalFloor()
    if operator_commands is None:
        return Engine(runbook, state, recorder, runner=refuse_to_run, approval_floor=floor)
    try:
        scenario = parse_scenario(row["scenario"]) if row["scenario"] else None
    except ScenarioInvalid as exc:
        # stored before the loader followed cli-replay's rules: reading the run still works, advancing says why not
        raise Invalid(f"this run's scenario is no longer accepted: {exc}") from None
    layers = effective_layers(runbook, mode=row["mode"], operator_commands=operator_commands, org=org)
    return Engine(
        runbook,
        state,
        recorder,
        scenario=scenario,
        replay_evidence=row["replay_evidence"] or {},
        approval_floor=floor,
        layers=layers,
        limits=limits,
        # only a real run reads and writes the org's registry: a replay run created nothing real
        artifacts=artifacts if row["mode"] == "real" else None,
    )


async def claim(
    *, session: AsyncSession, org_id: str, run_id: str, owner: str, seconds: float, what: str
) -> dict[str, Any]:
    """Mark the run as being advanced by ``owner`` for at most ``seconds``; 409 while another claim holds.

    One atomic UPDATE: no row lock outlives this (short) transaction, and a claim left by a crashed
    process lapses at its expiry instead of blocking the run for ever.
    """
    query = (
        sa.update(runs)
        .where(
            runs.c.org_id == org_id,
            runs.c.run_id == run_id,
            runs.c.mode != "dry-run",
            runs.c.status.notin_(ENDED),
            sa.or_(runs.c.claim_owner.is_(None), runs.c.claim_until < sa.func.now()),
        )
        .values(
            claim_owner=owner,
            claim_until=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds),
            claim_action=what,
        )
        .returning(*runs.c)
    )
    row = (await session.execute(query)).mappings().first()
    if row is not None:
        return dict(row)
    current = await get_run(session=session, org_id=org_id, run_id=run_id)
    if current["mode"] == "dry-run":
        raise InvalidTransition("a dry-run run only holds its plan; create a real or replay run to execute")
    ensure_open(current)
    raise Conflict(
        f"run {run_id} is busy: {current['claim_action'] or 'an advance'} holds it until "
        f"{current['claim_until']:%Y-%m-%d %H:%M:%S} UTC; try again when it finishes"
    )


async def _release(database: Database, org_id: str, run_id: str, owner: str) -> None:
    async with database.tenant_transaction(org_id) as session:
        await session.execute(
            sa.update(runs)
            .where(runs.c.org_id == org_id, runs.c.run_id == run_id, runs.c.claim_owner == owner)
            .values(claim_owner=None, claim_until=None, claim_action=None)
        )


async def operate(
    *,
    database: Database,
    org_id: str,
    run_id: str,
    action: Any,
    operator_commands: list[str],
    limits: Limits | None = None,
    executor: Executor | None = None,
    what: str = "an advance",
    blocking: bool = False,  # kept for callers: every action now runs off the event loop
    default_policy: OrgPolicy | None = None,
    on_ended: Callable[[RunState, float], None] | None = None,
    cause: Cause | None = None,
) -> Any:
    """Apply ``action(engine)`` to the run and persist everything it recorded.

    ``on_ended(state, seconds)`` is called once the advance that ended the run is written (metrics).
    ``cause``: the consumed message this advance handles; the messages it publishes are caused by it.

    Three steps, none holding a connection or a lock while the action runs: a short transaction claims
    the run (409 if another claim holds it), the action runs in ``executor`` (a worker thread; never the
    event loop, since replay delays, retry waits and real commands all block), and a second short
    transaction writes state, step results, trace, snapshots and messages if the claim still holds.
    """
    limits = limits or Limits()
    owner = uuid.uuid4().hex
    async with database.tenant_transaction(org_id) as session:
        row = await claim(
            session=session, org_id=org_id, run_id=run_id, owner=owner, seconds=limits.lease_seconds(), what=what
        )
        org = await org_policy.get_policy(session=session, org_id=org_id, default=default_policy)
        row["history"] = (await get_run(session=session, org_id=org_id, run_id=run_id, history=True))["history"]
        stored: set[str] = set(
            (
                await session.execute(
                    sa.select(snapshots.c.name).where(snapshots.c.org_id == org_id, snapshots.c.run_id == run_id)
                )
            ).scalars()
        )
    # An advance made for no consumed message (an approval over HTTP) continues the chain of the
    # request the run answers, if one started it.
    cause = cause or stored_cause(row)
    # shielded: a client that goes away must not leave the claim taken or the results of a command unwritten
    return await asyncio.shield(
        _execute_and_write(
            database, row, owner, stored, action, operator_commands, limits, executor, org, on_ended, cause
        )
    )


async def daily(*, session: AsyncSession, org_id: str, window: Window, runbook: str | None = None) -> DailyRuns:
    """Runs per day by status over the window; one runbook's (by ``meta.name``) when named."""
    r = runs.c
    where = r.org_id == org_id if runbook is None else sa.and_(r.org_id == org_id, r.runbook_name == runbook)
    return await daily_runs(session, created_at=r.created_at, status=r.status, where=where, window=window)


def stored_cause(row: Mapping[str, Any]) -> Cause | None:
    """The request a run answers, as its row keeps it (None for a run started over HTTP)."""
    if row.get("caused_by") is None:
        return None
    return Cause(row["caused_by"], row["org_id"], row["cause_depth"] or 0)


FLUSH_EVERY_STEPS = 20
# The outcomes a run's duration is measured to.
ENDED = frozenset({"passed", "failed", "rejected", "cancelled"})


@dataclass
class _Batch:
    """One transaction's worth of an advance, prepared off the loop so the loop only sends it."""

    values: dict[str, Any]
    results: list[dict[str, Any]]
    recorder: DbRecorder
    messages: list[tuple[Any, Message]]
    final: bool


class _Progress:
    """Writes an advance's progress every ``FLUSH_EVERY_STEPS`` steps and at its end.

    Rows are built in the worker thread; each batch is written by the event loop in one short
    transaction that first checks the claim. The loop's share per batch stays small however many
    steps an advance runs, and a long continue leaves its finished steps recorded as it goes.
    """

    def __init__(
        self,
        database: Database,
        row: dict[str, Any],
        owner: str,
        limits: Limits,
        loop: asyncio.AbstractEventLoop,
        cause: Cause | None = None,
    ) -> None:
        self.database, self.row, self.owner, self.limits, self.loop = database, row, owner, limits, loop
        self.cause = cause
        self.engine: Engine | None = None
        # the request's context (its trace), for the writes started from the worker thread
        self.context = contextvars.copy_context()
        self.written = 0
        self.was_finished = False

    def start(self, engine: Engine) -> None:
        self.engine = engine
        self.written = len(engine.state.history)
        self.was_finished = engine.state.status in ENDED

    def after_snapshot(self, recorder: DbRecorder) -> None:
        """Called in the worker after each snapshot: flush once enough steps are waiting."""
        if self.engine is not None and len(self.engine.state.history) - self.written >= FLUSH_EVERY_STEPS:
            batch = self.batch(recorder, final=False)
            done: concurrent.futures.Future[None] = concurrent.futures.Future()

            def start() -> None:
                task = self.loop.create_task(self.write(batch), context=self.context.copy())
                task.add_done_callback(finish)

            def finish(task: asyncio.Task[None]) -> None:
                if task.cancelled():
                    done.set_exception(Conflict("the service stopped while this advance was being written"))
                elif task.exception() is not None:
                    done.set_exception(task.exception())
                else:
                    done.set_result(None)

            self.loop.call_soon_threadsafe(start)
            # bounded: a loop that is shutting down must not leave this thread (and interpreter exit) waiting
            done.result(timeout=120)

    def batch(self, recorder: DbRecorder, *, final: bool) -> _Batch:
        assert self.engine is not None
        org_id, run_id, state = self.row["org_id"], self.row["run_id"], self.engine.state
        new = state.history[self.written :]
        first = self.written
        self.written = len(state.history)
        taken = DbRecorder(
            events=recorder.events, snapshots=recorder.snapshots, files=recorder.files, artifacts=recorder.artifacts
        )
        recorder.stored |= recorder.snapshots.keys()
        recorder.events, recorder.snapshots, recorder.files, recorder.artifacts = [], {}, {}, []
        values: dict[str, Any] = {
            "state": snapshot_of(state),
            "status": state.status,
            "updated_at": sa.func.now(),
            **summarise_run(self.engine),
        }
        if final:
            values |= {"claim_owner": None, "claim_until": None, "claim_action": None}
        results = [
            {
                "run_id": run_id,
                "seq": first + i,
                "org_id": org_id,
                "step_id": r.step_id,
                "status": r.status,
                "result": r.model_dump(mode="json"),
            }
            for i, r in enumerate(new)
        ]
        messages = self._step_results(new, first)
        finished = state.status in ("passed", "failed")
        if final and finished and not self.was_finished and state.mode == "real" and self.row["mode"] == "real":
            # replay runs are tests of the runbook, not executions: they never count towards success rates.
            # Rejected and cancelled runs did not execute to an outcome either.
            messages.append(self._executed())
        if final and state.status != self.row["status"]:
            # runbook-runs.v1: the status this advance ended in (waiting, passed, failed, rejected, cancelled)
            artifacts = announce.jsonable(getattr(state, "artifacts", None))
            messages.append(
                announce.of_row(self.row | values | {"artifacts": artifacts}, seq=len(state.history), cause=self.cause)
            )
        return _Batch(values=values, results=results, recorder=taken, messages=messages, final=final)

    def _step_results(self, new: list[StepResult], first: int) -> list[tuple[Any, Message]]:
        """runbook-step-results.v1: one message per step result, with an id stable across retries."""
        org_id, run_id = self.row["org_id"], self.row["run_id"]
        return [
            (
                RUNBOOK_STEP_RESULTS,
                caused_or_new(
                    self.cause,
                    id=derived_id("runbook-step-result", run_id, first + i),
                    type="runbook.step_result",
                    org_id=org_id,
                    source=SOURCE,
                    clamp=True,  # a record of what happened, as the announcements are
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
            for i, r in enumerate(new)
        ]

    def _executed(self) -> tuple[Any, Message]:
        """playbook-executions.v1: the outcome of a real run that ended, for the learning and the stats."""
        assert self.engine is not None
        state, meta, run_id = self.engine.state, self.engine.runbook.meta, self.row["run_id"]
        failed = next((r for r in reversed(state.history) if r.status == "failed"), None)
        return (
            PLAYBOOK_EXECUTIONS,
            caused_or_new(
                self.cause,
                id=derived_id("playbook-executed", run_id),
                type="playbook.executed",
                org_id=self.row["org_id"],
                source=SOURCE,
                clamp=True,
                data=PlaybookExecuted(
                    playbook_id=self.row["playbook_id"] or meta.name,
                    version=self.row["playbook_version"] or meta.version or state.runbook_digest[7:19],
                    run_id=run_id,
                    success=state.status == "passed",
                    duration_ms=int((state.history[-1].ended_at - state.started_at).total_seconds() * 1000),
                    error=failed.error if failed else None,
                    failed_step=failed.step_id if failed else None,
                    # what the learning reads overrides from; secret values never leave the run
                    parameters={k: v for k, v in state.vars.items() if k not in meta.secret_vars()},
                ).model_dump(mode="json"),
            ),
        )

    async def write(self, batch: _Batch) -> None:
        org_id, run_id = self.row["org_id"], self.row["run_id"]
        async with self.database.tenant_transaction(org_id) as session:
            held = await session.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id, runs.c.org_id == org_id, runs.c.claim_owner == self.owner)
                .values(**batch.values)
                .returning(runs.c.run_id)
            )
            if held.first() is None:
                raise Conflict(
                    f"run {run_id}: the claim lapsed before this advance finished "
                    f"({self.limits.lease_seconds():g}s); what it did since its last write was not recorded"
                )
            if batch.results:
                await session.execute(sa.insert(step_results), batch.results)
            await _write_records(session, org_id, run_id, batch.recorder)
            await add_to_outbox(session, SCHEMA, batch.messages)


async def _execute_and_write(
    database: Database,
    row: dict[str, Any],
    owner: str,
    stored: set[str],
    action: Any,
    operator_commands: list[str],
    limits: Limits,
    executor: Executor | None,
    org: OrgPolicy,
    on_ended: Callable[[RunState, float], None] | None = None,
    cause: Cause | None = None,
) -> Any:
    org_id, run_id = row["org_id"], row["run_id"]
    progress = _Progress(database, row, owner, limits, asyncio.get_running_loop(), cause)
    recorder = DbRecorder(cap=limits.snapshots, stored=stored, after_snapshot=progress.after_snapshot)

    def work() -> tuple[Any, _Batch]:
        # parsing the runbook is CPU work on user data too: it happens here, off the loop
        engine = engine_for(
            row,
            recorder,
            operator_commands=operator_commands,
            org=org,
            limits=limits,
            approval_floor=org.approvals,
            artifacts=DbArtifacts(database, org_id, recorder, progress.loop),
        )
        engine.deadline = time.monotonic() + limits.advance_seconds
        progress.start(engine)
        outcome = action(engine)
        return outcome, progress.batch(recorder, final=True)

    try:
        outcome, last = await asyncio.get_running_loop().run_in_executor(executor, contextvars.copy_context().run, work)
    except (EngineConflict, EngineRefused, EngineError, GovernanceError) as exc:
        await _release(database, org_id, run_id, owner)
        message = progress.engine.redact(str(exc)) if progress.engine is not None else redactor_for(row)(str(exc))
        if isinstance(exc, EngineConflict):
            raise Conflict(message) from None
        if isinstance(exc, EngineRefused):
            raise Forbidden(message) from None
        raise Invalid(message) from None
    except BaseException:
        await _release(database, org_id, run_id, owner)
        raise
    await progress.write(last)
    state = progress.engine.state if progress.engine is not None else None
    if on_ended is not None and state is not None and not progress.was_finished and state.status in ENDED:
        ended = state.history[-1].ended_at if state.history else state.started_at
        on_ended(state, max((ended - state.started_at).total_seconds(), 0.0))
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
    if recorder.artifacts:
        # the first run to create a signature keeps it (two runs racing on one signature both ran)
        await session.execute(
            pg_insert(artifacts_table)
            .values(
                [
                    {
                        "org_id": org_id,
                        "signature": a.signature,
                        "name": a.name,
                        "run_id": a.run_id,
                        "step_id": a.step_id,
                        "created_at": a.created_at,
                    }
                    for a in {a.signature: a for a in reversed(recorder.artifacts)}.values()
                ]
            )
            .on_conflict_do_nothing()
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
    return verify(parse_runbook(row["runbook"]), run_state(row))


def new_idempotency_key() -> str:
    return str(uuid.uuid4())
