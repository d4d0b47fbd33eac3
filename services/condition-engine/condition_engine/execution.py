"""Running playbooks for trigger events: compiled playbooks per org, one run per (playbook, event).

For a batch of events the worker evaluates every active playbook of each event's org whose
trigger matches, plans the actions of those whose conditions all pass, and commits, in the
caller's one transaction: the run rows (``ON CONFLICT DO NOTHING`` on (org, playbook, event), so a
redelivered event never makes a second run), and only for runs that were new, their activity
and task rows and their messages in the outbox (one packed row for the batch). Nothing here
raises for a playbook or an event: a bad one becomes a ``failed`` run and the batch goes on.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope
from playbooks_contracts.topics import PLAYBOOK_RUNS, Topic
from playbooks_platform.ids import new_id
from playbooks_platform.outbox import PackedMessage, stage_batch
from playbooks_platform.telemetry import inject_headers

from .actions import Action, ActionError, ActivityRow, Plan, TaskRow, caused_by_playbook, plan_actions, validate_actions
from .dsl import CompiledConditions, ConditionError, compile_raw
from .models import SCHEMA, TRIGGERS
from .wire import caused, id_text, timestamp

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
        self.compilations = 0

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
                    self.compilations += 1
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
    id: uuid.UUID
    playbook: CompiledPlaybook
    event: Envelope
    event_json: str
    status: str
    error: str | None
    metrics: dict[str, Any]
    plan: Plan | None


def evaluate(
    playbook: CompiledPlaybook, event: Envelope, event_json: str, context: dict[str, Any], occurred_at: str
) -> Run:
    """The outcome of one playbook for one event; never raises."""
    run_id = new_id()
    metrics: dict[str, Any] = {
        "playbookName": playbook.name,
        "trigger": playbook.trigger,
        "actionsCount": 0,
        **context,
    }
    if playbook.error is not None or playbook.conditions is None:
        return Run(run_id, playbook, event, event_json, "failed", playbook.error, metrics, None)
    if caused_by_playbook(event) == playbook.id:
        metrics["skipReason"] = "the event is this playbook's own output; a playbook never re-triggers itself"
        return Run(run_id, playbook, event, event_json, "skipped", None, metrics, None)
    failure = playbook.conditions.first_failure(event.data)
    if failure is not None:
        metrics["failedCondition"] = {"index": failure.index, "message": failure.message}
        return Run(run_id, playbook, event, event_json, "skipped", None, metrics, None)
    try:
        plan = plan_actions(
            playbook.actions, event=event, playbook_id=playbook.id, run_id=run_id, occurred_at=occurred_at
        )
    except ActionError as exc:
        return Run(run_id, playbook, event, event_json, "failed", str(exc), metrics, None)
    except Exception as exc:  # an unexpected bug in one action must not stop the other playbooks
        log.exception("action planning failed", extra={"playbook_id": str(playbook.id)})
        return Run(run_id, playbook, event, event_json, "failed", f"{type(exc).__name__}: {exc}", metrics, None)
    metrics["actionsCount"] = len(playbook.actions)
    return Run(run_id, playbook, event, event_json, "success", None, metrics, plan)


def evaluate_events(events: Sequence[Envelope], playbooks: dict[str, ByTrigger], now: datetime) -> list[Run]:
    """Every (playbook, event) outcome of a batch; the same pair twice (a redelivery) once."""
    # Keyed by org too: producers choose event ids, so two orgs' events may share one.
    runs: dict[tuple[str, uuid.UUID, uuid.UUID], Run] = {}
    occurred_at = timestamp(now)
    for event in events:
        candidates = playbooks.get(event.org_id, {}).get(event.type)
        if not candidates:
            continue
        event_json = orjson.dumps(event.data).decode()
        context = run_context(event.type, event.data)
        for playbook in candidates:
            if (event.org_id, playbook.id, event.id) not in runs:
                runs[event.org_id, playbook.id, event.id] = evaluate(playbook, event, event_json, context, occurred_at)
    return list(runs.values())


# -- committing ---------------------------------------------------------------------------

# Each event's JSON is sent and parsed once (``:docs``) and its runs join it by position (``te``,
# 1-based): parsed once per run, it cost this statement 1.3-1.7x for events of 350 B to 2 KB
# (decision 0015). ``OFFSET 0`` keeps the planner from pulling the subquery up, which would
# parse the document again for every run that joins it.
_INSERT_RUNS = text(
    f"INSERT INTO {SCHEMA}.playbook_runs "
    "(id, playbook_id, org_id, event_id, trigger_event, status, error, metrics, created_at, completed_at) "
    "SELECT id, pb, org, ev, d.doc, st, er, me::jsonb, :now, :now FROM unnest("
    "CAST(:ids AS uuid[]), CAST(:pbs AS uuid[]), CAST(:orgs AS text[]), CAST(:evs AS uuid[]), "
    "CAST(:tes AS int[]), CAST(:sts AS text[]), CAST(:ers AS text[]), CAST(:mes AS text[])"
    ") AS r(id, pb, org, ev, te, st, er, me) "
    "JOIN (SELECT CAST(doc AS jsonb) AS doc, n FROM unnest(CAST(:docs AS text[])) WITH ORDINALITY AS u(doc, n) "
    "OFFSET 0) AS d ON d.n = r.te "
    "ON CONFLICT (org_id, playbook_id, event_id) DO NOTHING RETURNING id"
)
_INSERT_ACTIVITIES = text(
    f"INSERT INTO {SCHEMA}.activities (id, org_id, type, metadata, playbook_id, run_id, causation_id, depth, "
    "created_at) SELECT id, org, ty, me::jsonb, pb, run, ca, de, :now FROM unnest(CAST(:ids AS uuid[]), "
    "CAST(:orgs AS text[]), CAST(:tys AS text[]), CAST(:mes AS text[]), CAST(:pbs AS uuid[]), "
    "CAST(:runs AS uuid[]), CAST(:cas AS uuid[]), CAST(:des AS int[])) AS a(id, org, ty, me, pb, run, ca, de) "
    "ON CONFLICT (id) DO NOTHING"
)
_INSERT_TASKS = text(
    f"INSERT INTO {SCHEMA}.tasks (id, org_id, queue, params, playbook_id, run_id, created_at) "
    "SELECT id, org, qu, pa::jsonb, pb, run, :now FROM unnest(CAST(:ids AS uuid[]), CAST(:orgs AS text[]), "
    "CAST(:qus AS text[]), CAST(:pas AS text[]), CAST(:pbs AS uuid[]), CAST(:runs AS uuid[])) "
    "AS t(id, org, qu, pa, pb, run) ON CONFLICT (id) DO NOTHING"
)
_LAST_RUN = text(
    f"UPDATE {SCHEMA}.playbooks SET last_run_at = GREATEST(COALESCE(last_run_at, :now), :now) "
    "WHERE id = ANY(CAST(:ids AS uuid[]))"
)


def run_record(run: Run, occurred_at: str) -> dict[str, Any]:
    """The ``playbook-runs.v1`` message of a run, caused by its event; its id is the run's.

    A record is not an action: at the depth limit it stays there instead of being refused.
    """
    data = {
        "run_id": str(run.id),
        "playbook_id": id_text(run.playbook.id),
        "playbook_name": run.playbook.name,
        "event_id": id_text(run.event.id),
        "trigger": run.playbook.trigger,
        "status": run.status,
        "error": run.error,
        "metrics": run.metrics,
        "created_at": occurred_at,
        "completed_at": occurred_at,
    }
    return caused(
        run.event,
        type="playbook_run.recorded",
        data=data,
        source=SERVICE,
        occurred_at=occurred_at,
        ceiling=True,
        id=run.id,
    )


def event_documents(runs: Sequence[Run]) -> tuple[list[str], list[int]]:
    """Each distinct event JSON of the runs once, and each run's 1-based position in that list.

    The runs of one event share one ``event_json`` string (``evaluate_events`` makes it once per
    event), so identity finds them; an equal copy that is not the same object is only sent twice.
    """
    docs: list[str] = []
    seen: dict[int, int] = {}
    positions = []
    for run in runs:
        position = seen.get(id(run.event_json))
        if position is None:
            docs.append(run.event_json)
            position = seen[id(run.event_json)] = len(docs)
        positions.append(position)
    return docs, positions


async def commit_runs(
    *,
    session: AsyncSession,
    runs: Sequence[Run],
    now: datetime,
    trace_headers: Mapping[tuple[str, uuid.UUID], dict[str, str]] | None = None,
) -> list[Run]:
    """Write the runs; for those not recorded before, their effects and messages. Returns the new ones.

    ``trace_headers`` (by org and event id) let each message continue the trace of the event that
    caused it when a batch mixes many; without them the current trace is used.
    """
    if not runs:
        return []
    occurred_at = timestamp(now)
    docs, positions = event_documents(runs)
    inserted = await session.execute(
        _INSERT_RUNS,
        {
            "now": now,
            "ids": [r.id for r in runs],
            "pbs": [r.playbook.id for r in runs],
            "orgs": [r.event.org_id for r in runs],
            "evs": [r.event.id for r in runs],
            "docs": docs,
            "tes": positions,
            "sts": [r.status for r in runs],
            "ers": [r.error for r in runs],
            "mes": [orjson.dumps(r.metrics).decode() for r in runs],
        },
    )
    new_ids = inserted.scalars().all()
    if len(new_ids) == len(runs):  # the usual case: none was recorded before
        new = list(runs)
    else:
        recorded = set(new_ids)
        new = [r for r in runs if r.id in recorded]
    activities: list[tuple[Run, ActivityRow]] = []
    task_rows: list[tuple[Run, TaskRow]] = []
    outbox: list[PackedMessage] = []
    current = inject_headers()
    by_event = trace_headers or {}

    def publish(topic: Topic, env: dict[str, Any], headers: dict[str, str]) -> None:
        outbox.append((topic.name, env["org_id"], headers, env))

    for run in new:
        headers = by_event.get((run.event.org_id, run.event.id), current)
        publish(PLAYBOOK_RUNS, run_record(run, occurred_at), headers)
        if run.plan is None:
            continue
        activities.extend((run, a) for a in run.plan.activities)
        task_rows.extend((run, t) for t in run.plan.tasks)
        for _i, topic, env in run.plan.messages:
            publish(topic, env, headers)
    if activities:
        await session.execute(
            _INSERT_ACTIVITIES,
            {
                "now": now,
                "ids": [a.id for _r, a in activities],
                "orgs": [r.event.org_id for r, _a in activities],
                "tys": [a.type for _r, a in activities],
                "mes": [orjson.dumps(a.metadata).decode() for _r, a in activities],
                "pbs": [r.playbook.id for r, _a in activities],
                "runs": [r.id for r, _a in activities],
                "cas": [r.event.id for r, _a in activities],
                "des": [r.event.depth + 1 for r, _a in activities],
            },
        )
    if task_rows:
        await session.execute(
            _INSERT_TASKS,
            {
                "now": now,
                "ids": [t.id for _r, t in task_rows],
                "orgs": [r.event.org_id for r, _t in task_rows],
                "qus": [t.queue for _r, t in task_rows],
                "pas": [orjson.dumps(t.params).decode() for _r, t in task_rows],
                "pbs": [r.playbook.id for r, _t in task_rows],
                "runs": [r.id for r, _t in task_rows],
            },
        )
    succeeded = sorted({r.playbook.id for r in new if r.status == "success"})  # sorted: one lock order
    if succeeded:
        await session.execute(_LAST_RUN, {"now": now, "ids": succeeded})
    # Every message of the batch in one outbox row, relayed in this order after the commit.
    await stage_batch(session, SCHEMA, outbox)
    return new


def runnable(events: Sequence[Envelope]) -> list[Envelope]:
    """The events playbooks react to (``triggers.v1`` also carries exceptions, for another service)."""
    return [e for e in events if e.type in TRIGGERS]
