"""Running playbooks for trigger events: compiled playbooks per org, one run per (playbook, event).

For a batch of events the worker evaluates, for each event some active playbook of its org reacts
to, every such playbook, and plans the actions of those whose conditions all pass. Then one
statement, in the caller's transaction, claims each event (one ``run_events`` row per (org,
event), holding the event's JSON once for all its runs; ``ON CONFLICT DO NOTHING``, so a
redelivered event, or one a second replica is handling, is claimed at most once) and writes, for
the claimed events only, the run rows (narrow, and with no unique check per run: the claim says
they are new), activities, tasks and the outbox row. Decision 0019. Nothing here raises for a
playbook or an event: a bad one becomes a ``failed`` run and the batch goes on.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, derived_id
from playbooks_contracts.topics import PLAYBOOK_RUNS
from playbooks_platform import messages
from playbooks_platform.messages import Cause, new_id_text, timestamp
from playbooks_platform.outbox import PackedMessage, pack_batch, stage_batch
from playbooks_platform.telemetry import inject_headers

from .actions import Action, ActionError, ActivityRow, Plan, TaskRow, caused_by_playbook, plan_actions, validate_actions
from .dsl import CompiledConditions, ConditionError, compile_raw
from .models import SCHEMA, TRIGGER_TYPES

SERVICE = "condition-engine"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompiledPlaybook:
    """One playbook version, compiled once and reused for every event until it changes."""

    id: uuid.UUID
    org_id: str
    name: str
    trigger: str
    version: int
    conditions: CompiledConditions | None
    actions: list[Action]
    error: str | None = None  # a stored definition that no longer compiles: its runs fail with this
    # The id as text, made once per version: every run writes it, in its row and its record.
    id_text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_text", str(self.id))


def compile_playbook(row: Any) -> CompiledPlaybook:
    try:
        conditions: CompiledConditions | None = compile_raw(row.conditions)
        actions = validate_actions(row.actions)
        error = None
    except (ConditionError, ActionError) as exc:
        conditions, actions, error = None, [], f"the stored playbook is invalid: {exc}"
    return CompiledPlaybook(row.id, row.org_id, row.name, row.trigger, row.version, conditions, actions, error)


_REVISIONS = text(f"SELECT org_id, revision FROM {SCHEMA}.playbook_revisions WHERE org_id = ANY(:orgs)")
_ACTIVE = text(
    f"SELECT id, org_id, name, trigger, version, conditions, actions FROM {SCHEMA}.playbooks "
    "WHERE org_id = ANY(:orgs) AND status = 'active' ORDER BY created_at, id"
)

ByTrigger = dict[str, list[CompiledPlaybook]]


class PlaybookCache:
    """Compiled active playbooks per org, checked against the org's revision once per batch.

    Every playbook change bumps the org's revision in the same transaction, so a worker in any
    process sees it at its next batch; an unchanged playbook version is never compiled again.
    """

    def __init__(self, max_orgs: int = 10_000) -> None:
        self.max_orgs = max_orgs
        self._orgs: OrderedDict[str, tuple[int, ByTrigger]] = OrderedDict()

    async def for_orgs(self, session: AsyncSession, orgs: Sequence[str]) -> dict[str, ByTrigger]:
        # The revision is read before the playbooks: a change committed in between is loaded now
        # and cached under the older revision, so the next batch reloads it; never the reverse.
        revisions = {r.org_id: r.revision for r in await session.execute(_REVISIONS, {"orgs": list(orgs)})}
        stale = [o for o in orgs if (cached := self._orgs.get(o)) is None or cached[0] != revisions.get(o, 0)]
        if stale:
            loaded: dict[str, ByTrigger] = {o: {} for o in stale}
            for row in await session.execute(_ACTIVE, {"orgs": stale}):
                previous = self._find(row.org_id, row.id, row.version)
                if previous is None:
                    previous = compile_playbook(row)
                loaded[row.org_id].setdefault(row.trigger, []).append(previous)
            for org, by_trigger in loaded.items():
                self._orgs[org] = (revisions.get(org, 0), by_trigger)
        result = {}
        for org in orgs:
            self._orgs.move_to_end(org)
            result[org] = self._orgs[org][1]
        while len(self._orgs) > self.max_orgs:
            self._orgs.popitem(last=False)
        return result

    def _find(self, org: str, playbook_id: uuid.UUID, version: int) -> CompiledPlaybook | None:
        cached = self._orgs.get(org)
        if cached is None:
            return None
        for playbooks in cached[1].values():
            for pb in playbooks:
                if pb.id == playbook_id and pb.version == version:
                    return pb
        return None


# -- one run ------------------------------------------------------------------------------

_CATEGORY_OF = {"contract": "contracts", "deck": "decks"}


def run_context(trigger: str, data: dict[str, Any]) -> dict[str, Any]:
    """What insights group by: the category of the event, and its type, pack and deck category."""
    if trigger == "accounts_pack_run":
        metrics = data.get("metrics") or {}
        pack = metrics.get("pack_type") if isinstance(metrics, dict) else None
        return {"category": "accounts", **({"packType": pack} if isinstance(pack, str) else {})}
    activity = data.get("activity") or {}
    if not isinstance(activity, dict):
        return {"category": "other"}
    kind, category = activity.get("type"), activity.get("category")
    out: dict[str, Any] = {}
    if isinstance(kind, str):
        out["activityType"] = kind
        prefix = kind.split("_", 1)[0]
    else:
        prefix = ""
    out["category"] = _CATEGORY_OF.get(category if isinstance(category, str) else "", _CATEGORY_OF.get(prefix, "other"))
    if out["category"] == "decks":
        meta = activity.get("metadata") or {}
        deck = meta.get("deckCategory", meta.get("deck_category")) if isinstance(meta, dict) else None
        if isinstance(deck, str):
            out["deckCategory"] = deck
    return out


@dataclass(slots=True)
class Run:
    id: str  # text (``new_id_text``): written only into a message and a text array
    playbook: CompiledPlaybook
    event: Envelope
    event_json: str
    status: str
    error: str | None
    metrics: dict[str, Any]
    plan: Plan | None
    cause: Cause  # what the run's messages take from its event, read once per event


def evaluate(
    playbook: CompiledPlaybook,
    event: Envelope,
    event_json: str,
    context: dict[str, Any],
    occurred_at: str,
    cause: Cause | None = None,
) -> Run:
    """The outcome of one playbook for one event (``cause``: the event's, when already read); never raises."""
    run_id = new_id_text()
    cause = cause or messages.cause(event)
    metrics: dict[str, Any] = {
        "playbookName": playbook.name,
        "trigger": playbook.trigger,
        "actionsCount": 0,
        **context,
    }
    if playbook.error is not None or playbook.conditions is None:
        return Run(run_id, playbook, event, event_json, "failed", playbook.error, metrics, None, cause)
    if caused_by_playbook(event) == playbook.id:
        metrics["skipReason"] = "the event is this playbook's own output; a playbook never re-triggers itself"
        return Run(run_id, playbook, event, event_json, "skipped", None, metrics, None, cause)
    failure = playbook.conditions.first_failure(event.data)
    if failure is not None:
        metrics["failedCondition"] = {"index": failure.index, "message": failure.message}
        return Run(run_id, playbook, event, event_json, "skipped", None, metrics, None, cause)
    try:
        plan = plan_actions(
            playbook.actions,
            event=event,
            playbook_id=playbook.id_text,
            run_id=run_id,
            occurred_at=occurred_at,
            cause=cause,
        )
    except ActionError as exc:
        return Run(run_id, playbook, event, event_json, "failed", str(exc), metrics, None, cause)
    except Exception as exc:  # an unexpected bug in one action must not stop the other playbooks
        log.exception("action planning failed", extra={"playbook_id": str(playbook.id)})
        return Run(run_id, playbook, event, event_json, "failed", f"{type(exc).__name__}: {exc}", metrics, None, cause)
    metrics["actionsCount"] = len(playbook.actions)
    return Run(run_id, playbook, event, event_json, "success", None, metrics, plan, cause)


@dataclass(slots=True)
class Pending:
    """An event some active playbook reacts to, before its claim; its JSON is made once."""

    event: Envelope
    event_json: str
    playbooks: list[CompiledPlaybook]


def pending_events(events: Sequence[Envelope], playbooks: dict[str, ByTrigger]) -> list[Pending]:
    """The batch's events that some active playbook reacts to, each (org, event) once.

    Sorted by (org, event id): the claims of two overlapping batches (two replicas during a
    rebalance) are then taken in one order, so they wait for each other instead of deadlocking.
    """
    # Keyed by org too: producers choose event ids, so two orgs' events may share one.
    found: dict[tuple[str, uuid.UUID], Pending] = {}
    for event in events:
        candidates = playbooks.get(event.org_id, {}).get(event.type)
        if candidates and (event.org_id, event.id) not in found:
            found[event.org_id, event.id] = Pending(event, orjson.dumps(event.data).decode(), candidates)
    return [found[k] for k in sorted(found)]


def evaluate_pending(pending: Sequence[Pending], now: datetime) -> list[Run]:
    """Every playbook's outcome for each event (already one per (org, event))."""
    runs: list[Run] = []
    occurred_at = timestamp(now)
    for p in pending:
        context = run_context(p.event.type, p.event.data)
        cause = messages.cause(p.event)
        for playbook in p.playbooks:
            runs.append(evaluate(playbook, p.event, p.event_json, context, occurred_at, cause))
    return runs


# -- committing ---------------------------------------------------------------------------

# One statement writes a batch (one round trip, where it took seven): the claims, and only for
# the events claimed, their runs, activities and tasks, the playbooks' last run, and the outbox
# row when every event was claimed (the usual case; otherwise the caller stages the messages of
# the claimed events' runs in a second statement). Data-modifying CTEs all run, once, whether or
# not the final SELECT reads them.
#
# ``claimed``: each event's claim and its JSON, stored once for all its runs (parsed once). A
# redelivered event, or one another replica holds, is not returned (after waiting for that
# replica's transaction if it is still open), so none of its rows are written again. The runs
# need no unique check and no ``ON CONFLICT``: they are new by construction.
#
# ``INSERT ... unnest``, not binary ``COPY``: asyncpg's COPY encodes a jsonb value per row through
# a Python codec, and cost more CPU than these arrays (docs/decisions/0019); and COPY could not
# join the claims.
_WRITE = text(
    "WITH claimed AS ("
    f"INSERT INTO {SCHEMA}.run_events (org_id, event_id, trigger_event, created_at) "
    "SELECT org, ev, CAST(doc AS jsonb), :now FROM unnest("
    "CAST(:e_orgs AS text[]), CAST(:e_evs AS uuid[]), CAST(:e_docs AS text[])) AS e(org, ev, doc) "
    "ON CONFLICT (org_id, event_id) DO NOTHING RETURNING org_id, event_id), "
    "runs AS ("
    f"INSERT INTO {SCHEMA}.playbook_runs "
    "(id, playbook_id, org_id, event_id, status, error, metrics, created_at, completed_at) "
    "SELECT r.id, r.pb, r.org, r.ev, r.st, r.er, CAST(r.me AS jsonb), :now, :now FROM unnest("
    "CAST(:r_ids AS uuid[]), CAST(:r_pbs AS uuid[]), CAST(:r_orgs AS text[]), CAST(:r_evs AS uuid[]), "
    "CAST(:r_sts AS text[]), CAST(:r_ers AS text[]), CAST(:r_mes AS text[])) AS r(id, pb, org, ev, st, er, me) "
    "JOIN claimed c ON c.org_id = r.org AND c.event_id = r.ev RETURNING playbook_id, status), "
    "activities AS ("
    f"INSERT INTO {SCHEMA}.activities (id, org_id, type, metadata, playbook_id, run_id, causation_id, depth, "
    "created_at) SELECT a.id, a.org, a.ty, CAST(a.me AS jsonb), a.pb, a.run, a.ca, a.de, :now FROM unnest("
    "CAST(:a_ids AS uuid[]), CAST(:a_orgs AS text[]), CAST(:a_tys AS text[]), CAST(:a_mes AS text[]), "
    "CAST(:a_pbs AS uuid[]), CAST(:a_runs AS uuid[]), CAST(:a_cas AS uuid[]), CAST(:a_des AS int[])) "
    "AS a(id, org, ty, me, pb, run, ca, de) JOIN claimed c ON c.org_id = a.org AND c.event_id = a.ca), "
    "tasks AS ("
    f"INSERT INTO {SCHEMA}.tasks (id, org_id, queue, params, playbook_id, run_id, created_at) "
    "SELECT t.id, t.org, t.qu, CAST(t.pa AS jsonb), t.pb, t.run, :now FROM unnest("
    "CAST(:t_ids AS uuid[]), CAST(:t_orgs AS text[]), CAST(:t_qus AS text[]), CAST(:t_pas AS text[]), "
    "CAST(:t_pbs AS uuid[]), CAST(:t_runs AS uuid[]), CAST(:t_evs AS uuid[])) AS t(id, org, qu, pa, pb, run, ev) "
    "JOIN claimed c ON c.org_id = t.org AND c.event_id = t.ev), "
    # The ids come sorted (one lock order between replicas); a playbook whose every success was
    # a redelivery is left alone.
    "last_run AS ("
    f"UPDATE {SCHEMA}.playbooks p SET last_run_at = GREATEST(COALESCE(p.last_run_at, :now), :now) "
    "WHERE p.id = ANY(CAST(:l_ids AS uuid[])) "
    "AND EXISTS (SELECT 1 FROM runs WHERE runs.playbook_id = p.id AND runs.status = 'success')), "
    "outbox AS ("
    f"INSERT INTO {SCHEMA}.outbox (batch) SELECT CAST(:batch AS bytea) "
    "WHERE (SELECT count(*) FROM claimed) = :n_events) "
    "SELECT org_id, event_id FROM claimed"
)


RECORDED = "playbook_runs.recorded"


def runs_record(
    event: Envelope, runs: Sequence[Run], occurred_at: str, metrics: Sequence[bytes] | None = None
) -> dict[str, Any]:
    """The ``playbook-runs.v1`` message of one event's runs (all of them, skipped and failed too),
    caused by the event. Its id is derived from (org, event): a redelivery, or a second replica
    that lost the claim, could only ever make the same message, and a consumer drops it by id.
    ``metrics``: each run's metrics already encoded (for its row), written into the message as they are.

    A record is not an action: at the depth limit it stays there instead of being refused.
    """
    cause = runs[0].cause
    encoded = [orjson.Fragment(m) for m in metrics] if metrics is not None else [r.metrics for r in runs]
    data = {
        "event_id": cause.id,
        "trigger": event.type,
        "created_at": occurred_at,
        "completed_at": occurred_at,
        "runs": [
            {
                "run_id": run.id,
                "playbook_id": run.playbook.id_text,
                "playbook_name": run.playbook.name,
                "status": run.status,
                "error": run.error,
                "metrics": m,
            }
            for run, m in zip(runs, encoded, strict=True)
        ],
    }
    return messages.caused(
        cause,
        type=RECORDED,
        data=data,
        source=SERVICE,
        occurred_at=occurred_at,
        clamp=True,
        id=derived_id(RECORDED, event.org_id, cause.id),
    )


async def record_events(
    *,
    session: AsyncSession,
    events: Sequence[Envelope],
    playbooks: dict[str, ByTrigger],
    now: datetime,
    trace_headers: Mapping[tuple[str, uuid.UUID], dict[str, str]] | None = None,
) -> list[Run]:
    """Evaluate the batch's events and write, in the session's transaction and for the events it
    claims, their runs, effects and messages. Returns the runs written (those of claimed events).

    ``trace_headers`` (by org and event id) let each message continue the trace of the event that
    caused it when a batch mixes many; without them the current trace is used.
    """
    pending = pending_events(events, playbooks)
    if not pending:
        return []
    runs = evaluate_pending(pending, now)
    occurred_at = timestamp(now)
    activities: list[tuple[Run, ActivityRow]] = []
    task_rows: list[tuple[Run, TaskRow]] = []
    outbox: list[PackedMessage] = []
    current = inject_headers()
    by_event = trace_headers or {}
    runs_topic = PLAYBOOK_RUNS.name
    sources: list[tuple[str, uuid.UUID]] = []  # the (org, event) of each message, if a claim fails
    succeeded: set[str] = set()
    metrics: list[bytes] = []  # each run's, encoded once for its row and its record
    dumps = orjson.dumps
    start = 0
    for p in pending:
        # evaluate_pending gives each event's runs together, in the order of ``pending``
        event_runs = runs[start : start + len(p.playbooks)]
        start += len(p.playbooks)
        event_metrics = [dumps(r.metrics) for r in event_runs]
        metrics += event_metrics
        org = p.event.org_id
        source = (org, p.event.id)
        headers = by_event.get(source, current)
        outbox.append((runs_topic, org, headers, runs_record(p.event, event_runs, occurred_at, event_metrics)))
        sources.append(source)
        for run in event_runs:
            plan = run.plan
            if plan is None:
                continue
            succeeded.add(run.playbook.id_text)
            activities.extend((run, a) for a in plan.activities)
            task_rows.extend((run, t) for t in plan.tasks)
            for _i, topic, env in plan.messages:
                outbox.append((topic.name, env["org_id"], headers, env))
                sources.append(source)
    params = _write_params(now, pending, runs, metrics, activities, task_rows, succeeded, outbox)
    claimed = (await session.execute(_WRITE, params)).all()
    if len(claimed) == len(pending):  # the usual case: every event is new, and the outbox row is written
        return runs
    # Some events were redelivered (or another replica holds them): their rows were not written,
    # and neither was the outbox row; stage the messages of the claimed events' runs alone.
    taken = {(row.org_id, row.event_id) for row in claimed}
    await stage_batch(session, SCHEMA, [m for m, event in zip(outbox, sources, strict=True) if event in taken])
    return [r for r in runs if (r.event.org_id, r.event.id) in taken]


def _write_params(
    now: datetime,
    pending: list[Pending],
    runs: list[Run],
    metrics: list[bytes],
    activities: list[tuple[Run, ActivityRow]],
    task_rows: list[tuple[Run, TaskRow]],
    succeeded: set[str],
    outbox: list[PackedMessage],
) -> dict[str, Any]:
    """The columns of ``_WRITE``'s arrays: events, runs, activities, tasks, playbooks last run, the outbox.

    Ids go as text, cast by the statement: asyncpg parses text into ``uuid[]`` in C, where each
    ``UUID`` object cost an abstract-class check as a possible nested array (decision 0028).
    """
    dumps = orjson.dumps
    return {
        "now": now,
        "e_orgs": [p.event.org_id for p in pending],
        "e_evs": [str(p.event.id) for p in pending],
        "e_docs": [p.event_json for p in pending],
        "r_ids": [r.id for r in runs],
        "r_pbs": [r.playbook.id_text for r in runs],
        "r_orgs": [r.cause.org_id for r in runs],
        "r_evs": [r.cause.id for r in runs],
        "r_sts": [r.status for r in runs],
        "r_ers": [r.error for r in runs],
        "r_mes": [m.decode() for m in metrics],
        "a_ids": [a.id for _r, a in activities],
        "a_orgs": [r.cause.org_id for r, _a in activities],
        "a_tys": [a.type for _r, a in activities],
        "a_mes": [dumps(a.metadata).decode() for _r, a in activities],
        "a_pbs": [r.playbook.id_text for r, _a in activities],
        "a_runs": [r.id for r, _a in activities],
        "a_cas": [r.cause.id for r, _a in activities],
        "a_des": [r.event.depth + 1 for r, _a in activities],
        "t_ids": [t.id for _r, t in task_rows],
        "t_orgs": [r.cause.org_id for r, _t in task_rows],
        "t_qus": [t.queue for _r, t in task_rows],
        "t_pas": [dumps(t.params).decode() for _r, t in task_rows],
        "t_pbs": [r.playbook.id_text for r, _t in task_rows],
        "t_runs": [r.id for r, _t in task_rows],
        "t_evs": [r.cause.id for r, _t in task_rows],
        "l_ids": sorted(succeeded),
        "batch": pack_batch(outbox),
        "n_events": len(pending),
    }


def runnable(events: Sequence[Envelope]) -> list[Envelope]:
    """The events playbooks react to (``triggers.v1`` also carries exceptions, for another service)."""
    return [e for e in events if e.type in TRIGGER_TYPES]
