"""The two statements of a step completion or skip: one read, one write (decision 0031).

The read brings the exception with what a step needs about it: the step events of its current
playbook run and the newest policy and domain pack versions. The write is the compare-and-set
UPDATE of the exception with the event rows and the outbox rows as data-modifying CTEs that insert
only when the UPDATE matched: no row back means another request moved the exception first (409),
and nothing was written. Both run in the caller's org transaction, so row-level security still
confines them; both are fixed ``text()`` statements, compiled once per process.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnClause, Row, column, text
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Topic
from playbooks_platform import messages
from playbooks_platform.outbox import outbox_rows

from . import events as ev
from . import service
from .models import SCHEMA, exceptions
from .packs import DEFAULT_POLICY, DomainPack, EffectivePolicy, PolicyPack

_STEP_EVENTS = (ev.STEP_COMPLETED, ev.STEP_SKIPPED, ev.PLAYBOOK_STARTED)

# Pack names are ``service.domain_key`` (Python's casefold); SQL's lower() agrees for the domains
# it is compared with in Python below, and the read falls back to ``effective_policy`` otherwise.
_READ = """
SELECT x.*, lower(btrim(x.domain)) AS domain_lowered,
       h.ids AS history_ids, h.types AS history_types, h.payloads AS history_payloads, h.times AS history_times,
       p.kinds AS pack_kinds, p.versions AS pack_versions, p.documents AS pack_documents
FROM {schema}.exceptions x
LEFT JOIN LATERAL (
    SELECT array_agg(e.id ORDER BY e.seq) AS ids, array_agg(e.event_type ORDER BY e.seq) AS types,
           array_agg(e.payload ORDER BY e.seq) AS payloads, array_agg(e.created_at ORDER BY e.seq) AS times
    FROM {schema}.exception_events e
    WHERE e.tenant_id = x.tenant_id AND e.exception_id = x.id
      AND e.event_type IN ({types}) AND e.payload->>'playbook_id' = x.current_playbook_id::text
) h ON true
LEFT JOIN LATERAL (
    SELECT array_agg(k.kind) AS kinds, array_agg(k.version) AS versions, array_agg(k.document) AS documents
    FROM (
        SELECT DISTINCT ON (k.kind) k.kind, k.version, k.document FROM {schema}.packs k
        WHERE k.tenant_id = x.tenant_id
          AND ((k.kind = 'policy' AND k.name = :policy_name) OR (k.kind = 'domain' AND k.name = lower(btrim(x.domain))))
        ORDER BY k.kind, k.version DESC
    ) k
) p ON true
WHERE x.tenant_id = :org AND {match}
"""
_EXTRA: tuple[ColumnClause[Any], ...] = (
    column("domain_lowered"),
    column("history_ids"),
    column("history_types"),
    column("history_payloads"),
    column("history_times"),
    column("pack_kinds"),
    column("pack_versions"),
    column("pack_documents"),
)


def _read(match: str) -> Any:
    types = ", ".join(f"'{t}'" for t in _STEP_EVENTS)
    sql = _READ.format(schema=SCHEMA, types=types, match=match)
    return text(sql).columns(*exceptions.c, *_EXTRA)


_READ_BY_ID = _read("x.id = :id")
_READ_BY_EXTERNAL_ID = _read("x.external_id = :ref")

_WRITE = text(
    f"""
WITH u AS (
    UPDATE {SCHEMA}.exceptions
    SET current_step = :current_step, playbook_completed_at = :playbook_completed_at, status = :status,
        owner = :owner, version = version + 1, updated_at = :now
    WHERE tenant_id = :org AND id = :id AND version = :version
    RETURNING *
), appended AS (
    INSERT INTO {SCHEMA}.exception_events (id, exception_id, tenant_id, event_type, payload, created_at)
    SELECT (r->>'id')::uuid, u.id, u.tenant_id, r->>'event_type', r->'payload', :now
    FROM u, jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS t(r, n)
    ORDER BY t.n
), staged AS (
    INSERT INTO {SCHEMA}.outbox (topic, key, payload, headers)
    SELECT m->>'topic', m->>'key', m->'payload', m->'headers'
    FROM u, jsonb_array_elements(CAST(:messages AS jsonb)) WITH ORDINALITY AS t(m, n)
    ORDER BY t.n
)
SELECT * FROM u
"""
).columns(*exceptions.c)

# The exception columns a step may change: the write sets each of them (to the value read when unchanged).
WRITABLE = frozenset({"current_step", "playbook_completed_at", "status", "owner"})


@dataclass(frozen=True, slots=True)
class Loaded:
    """An exception as a step finds it: the row, its playbook run's step events, the effective policy."""

    exception: Row[Any]
    history: dict[int, Any]  # the completion or skip event of each step, by step order
    started: Any  # the run's PlaybookStarted event, or None
    policy: EffectivePolicy


async def load(session: AsyncSession, tenant_id: str, ref: str) -> Loaded:
    """The exception by its id or, failing that, by the upstream system's id (NotFound when neither)."""
    try:
        exception_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        exception_id = None
    row = None
    if exception_id is not None:
        row = (await session.execute(_READ_BY_ID, {"org": tenant_id, "id": exception_id, **_NAMES})).one_or_none()
    if row is None:
        row = (await session.execute(_READ_BY_EXTERNAL_ID, {"org": tenant_id, "ref": ref, **_NAMES})).one_or_none()
    if row is None:
        # The same refusal, worded by the one place that words it.
        await service.resolve_exception(session, tenant_id, ref)
        raise AssertionError("unreachable: resolve_exception found a row the read did not")
    history, started = _history(row, tenant_id)
    if service.domain_key(row.domain) == row.domain_lowered:
        policy = _policy(row)
    else:
        policy = await service.effective_policy(session=session, tenant_id=tenant_id, domain=row.domain)
    return Loaded(row, history, started, policy)


_NAMES = {"policy_name": service.POLICY_PACK_NAME}


def _history(row: Row[Any], tenant_id: str) -> tuple[dict[int, Any], Any]:
    done: dict[int, Any] = {}
    started = None
    if row.history_ids is None:
        return done, started
    for event_id, event_type, payload, created_at in zip(
        row.history_ids, row.history_types, row.history_payloads, row.history_times, strict=True
    ):
        event = ev.Appended(event_id, row.id, tenant_id, event_type, _json(payload), created_at)
        if event_type == ev.PLAYBOOK_STARTED:
            done, started = {}, event  # the playbook was put on again: its steps start over
        else:
            done[int(event.payload["step_order"])] = event
    return done, started


def _policy(row: Row[Any]) -> EffectivePolicy:
    found = {}
    if row.pack_kinds is not None:
        found = dict(zip(row.pack_kinds, zip(row.pack_versions, row.pack_documents, strict=True), strict=True))
    policy, domain = found.get("policy"), found.get("domain")
    return EffectivePolicy(
        policy=PolicyPack.model_validate(_json(policy[1])) if policy else DEFAULT_POLICY,
        policy_version=policy[0] if policy else 0,
        domain=DomainPack.model_validate(_json(domain[1])) if domain else None,
        domain_version=domain[0] if domain else None,
    )


def _json(value: Any) -> Any:
    """An element of a jsonb array as the driver gives it (text, or already decoded)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def write(
    session: AsyncSession,
    *,
    tenant_id: str,
    current: Row[Any],
    values: dict[str, Any],
    events: Sequence[ev.Appended],
    items: Sequence[tuple[Topic, messages.Message]],
    now: datetime,
    what: str,
) -> Row[Any]:
    """Compare-and-set ``values`` on the exception and append ``events`` with the outbox ``items``:
    all of it or, when the exception is no longer at the version read, none of it (409)."""
    if not values.keys() <= WRITABLE:
        raise ValueError(f"a step writes only {sorted(WRITABLE)}, not {sorted(values.keys() - WRITABLE)}")
    params = {name: values.get(name, getattr(current, name)) for name in WRITABLE}
    event_rows = [{"id": str(e.id), "event_type": e.event_type, "payload": e.payload} for e in events]
    row = (
        await session.execute(
            _WRITE,
            {
                **params,
                "now": now,
                "org": tenant_id,
                "id": current.id,
                "version": current.version,
                "events": orjson.dumps(event_rows).decode(),
                "messages": orjson.dumps(outbox_rows(items)).decode(),
            },
        )
    ).one_or_none()
    if row is None:
        raise service.changed_meanwhile(current.id, what)
    return row
