"""Learning only with the owner's approval: proposals from outcome telemetry, approve, reject.

From the executions recorded for an org playbook (the ``playbook-executions.v1`` consumer and the stats
route write them) over 7 and 30 days, three kinds of proposal, each with the figures it rests on:

- ``new_default``: most runs give a parameter one same value that is not its default;
- ``retry``: a runbook step keeps failing with transient errors (timeouts, throttling, 5xx) and has no retry;
- ``needs_update``: the 7-day success rate fell well below the 30-day one.

A proposal changes nothing until its owner (or an org admin) approves it; it never touches identity fields
(``clones.IDENTITY_FIELDS``): a change may only set a parameter's default or a step's retry, and the result
is checked again before it is stored. Generation is deterministic (same executions, same proposals) and
idempotent: one proposal per kind, target and value per playbook, so a rejected one is not proposed again.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.clones import ProposalRead
from playbooks_contracts.recommendation import TRANSITIONS
from playbooks_platform.auth import Principal
from playbooks_platform.errors import Conflict, Forbidden, NotFound

from . import clones, service
from .models import executions, proposals
from .settings import RecommendationSettings

Key = tuple[str, str]
WINDOWS = (7, 30)
# Failures worth retrying: the same call may well pass a moment later.
TRANSIENT = re.compile(
    r"time[d ]?out|timed out|throttl|rate.?limit|too many requests|\b(429|500|502|503|504)\b|temporar|"
    r"unavailable|connection (reset|refused|aborted)|try again|requestlimitexceeded",
    re.IGNORECASE,
)
PROPOSED_RETRY = {"attempts": 3, "delay": 5, "strategy": "exponential"}


def _now() -> datetime:
    return datetime.now(UTC)


def _read(r: Any) -> ProposalRead:
    return ProposalRead(
        id=r.id,
        playbook_id=r.playbook_id,
        base_version=r.base_version,
        kind=r.kind,
        summary=r.summary,
        change=r.change,
        evidence=r.evidence,
        status=r.status,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        reason=r.reason,
        applied_version=r.applied_version,
        created_at=r.created_at,
    )


def _rate(runs: list[Any]) -> float | None:
    return round(sum(r.success for r in runs) / len(runs), 4) if runs else None


def _figures(runs30: list[Any], runs7: list[Any]) -> dict[str, Any]:
    return {
        "runs_30d": len(runs30),
        "runs_7d": len(runs7),
        "success_rate_30d": _rate(runs30),
        "success_rate_7d": _rate(runs7),
        "failures_30d": sum(not r.success for r in runs30),
        "mean_duration_ms_30d": (
            round(sum(d) / len(d)) if (d := [r.duration_ms for r in runs30 if r.duration_ms is not None]) else None
        ),
    }


def candidates(
    document: dict[str, Any], status: str, runs30: list[Any], runs7: list[Any], settings: RecommendationSettings
) -> list[dict[str, Any]]:
    """What the telemetry suggests for this document (pure: the same runs give the same proposals)."""
    base = _figures(runs30, runs7)
    out: list[dict[str, Any]] = []
    if len(runs30) >= settings.learning_min_runs:
        out += _new_defaults(document, runs30, runs7, base, settings)
    out += _retries(document, runs30, runs7, base, settings)
    out += _needs_update(status, runs7, base, settings)
    return out


def _new_defaults(
    document: dict[str, Any],
    runs30: list[Any],
    runs7: list[Any],
    base: dict[str, Any],
    settings: RecommendationSettings,
) -> list[dict[str, Any]]:
    """A parameter most runs give the same value other than its default: that value as the default."""
    out: list[dict[str, Any]] = []
    n = len(runs30)
    given = [r.parameters for r in runs30 if isinstance(r.parameters, dict)]
    for param in document.get("parameters") or []:
        values = Counter(json.dumps(p[param["name"]], sort_keys=True) for p in given if param["name"] in p)
        if not values:
            continue
        # most common value; ties broken by the value's text, so the answer never depends on order
        value_json, count = min(values.items(), key=lambda kv: (-kv[1], kv[0]))
        value = json.loads(value_json)
        share = count / n
        if value != param.get("default") and share >= settings.learning_override_share:
            out.append(
                {
                    "kind": "new_default",
                    "target": param["name"],
                    "value": value,
                    "summary": f"make {value_json} the default of {param['name']}: {count} of {n} runs in 30 "
                    f"days gave it (default {json.dumps(param.get('default'))})",
                    "change": {"set": [{"path": ["parameters", param["name"], "default"], "value": value}]},
                    "evidence": base
                    | {
                        "parameter": param["name"],
                        "current_default": param.get("default"),
                        "proposed_default": value,
                        "runs_with_value_30d": count,
                        "share_30d": round(share, 4),
                        "runs_with_value_7d": sum(
                            1
                            for r in runs7
                            if isinstance(r.parameters, dict) and r.parameters.get(param["name"], object()) == value
                        ),
                    },
                }
            )
    return out


def _retries(
    document: dict[str, Any],
    runs30: list[Any],
    runs7: list[Any],
    base: dict[str, Any],
    settings: RecommendationSettings,
) -> list[dict[str, Any]]:
    """A step without retries whose failures were transient often enough: a retry."""
    out: list[dict[str, Any]] = []
    runbook = document.get("runbook") or {}
    steps = {s.get("id"): s for s in runbook.get("steps") or [] if isinstance(s, dict)}
    failed = [r for r in runs30 if not r.success and r.failed_step in steps]
    for step_id in sorted({r.failed_step for r in failed}):
        of_step = [r for r in failed if r.failed_step == step_id]
        transient = [r for r in of_step if r.error and TRANSIENT.search(r.error)]
        attempts = (steps[step_id].get("retry") or {}).get("attempts", 1)
        if len(transient) >= settings.learning_transient_failures and attempts <= 1:
            out.append(
                {
                    "kind": "retry",
                    "target": step_id,
                    "value": PROPOSED_RETRY,
                    "summary": f"retry step {step_id} ({PROPOSED_RETRY['attempts']} attempts, exponential): "
                    f"{len(transient)} of its {len(of_step)} failures in 30 days were transient",
                    "change": {"set": [{"path": ["runbook", "steps", step_id, "retry"], "value": PROPOSED_RETRY}]},
                    "evidence": base
                    | {
                        "step": step_id,
                        "step_failures_30d": len(of_step),
                        "transient_failures_30d": len(transient),
                        "transient_failures_7d": sum(
                            1
                            for r in runs7
                            if not r.success and r.failed_step == step_id and r.error and TRANSIENT.search(r.error)
                        ),
                        "examples": sorted({(r.error or "")[:120] for r in transient})[:3],
                        "current_retry": steps[step_id].get("retry"),
                    },
                }
            )
    return out


def _needs_update(
    status: str, runs7: list[Any], base: dict[str, Any], settings: RecommendationSettings
) -> list[dict[str, Any]]:
    """The success rate of the last 7 days fell far enough below the 30 days': mark it needs_update."""
    out: list[dict[str, Any]] = []
    r7, r30 = base["success_rate_7d"], base["success_rate_30d"]
    if (
        len(runs7) >= settings.learning_min_runs
        and r7 is not None
        and r30 is not None
        and r30 - r7 >= settings.learning_success_drop
        and "needs_update" in TRANSITIONS.get(status, ())
    ):
        out.append(
            {
                "kind": "needs_update",
                "target": "status",
                "value": "needs_update",
                "summary": f"mark needs_update: success fell to {r7:.0%} over 7 days from {r30:.0%} over 30",
                "change": {"status": "needs_update"},
                "evidence": base | {"drop": round(r30 - r7, 4), "threshold": settings.learning_success_drop},
            }
        )
    return out


async def refresh(
    *,
    session: AsyncSession,
    org_id: str,
    playbook_id: str,
    settings: RecommendationSettings,
    now: datetime | None = None,
) -> list[ProposalRead]:
    """Look at the last 30 days of outcomes and record what they suggest (once each); the open proposals."""
    current = await clones.current_row(session, org_id, playbook_id)
    now = now or _now()
    e = executions.c
    runs30 = (
        await session.execute(
            select(e.success, e.duration_ms, e.error, e.parameters, e.failed_step, e.at)
            .where(e.org_id == org_id, e.playbook_id == playbook_id, e.at >= now - timedelta(days=30))
            .order_by(e.at, e.run_id)
        )
    ).all()
    runs7 = [r for r in runs30 if r.at >= now - timedelta(days=7)]
    for cand in candidates(current.document, current.status, list(runs30), runs7, settings):
        fingerprint = f"{cand['kind']}:{cand['target']}:{json.dumps(cand['value'], sort_keys=True)}"
        inserted = (
            await session.execute(
                pg_insert(proposals)
                .values(
                    id=str(uuid.uuid4()),
                    org_id=org_id,
                    playbook_id=playbook_id,
                    base_version=current.version,
                    kind=cand["kind"],
                    fingerprint=fingerprint,
                    summary=cand["summary"],
                    change=cand["change"],
                    evidence=cand["evidence"] | {"as_of": now.isoformat()},
                )
                .on_conflict_do_nothing(constraint="uq_proposals_fingerprint")
                .returning(proposals.c.id)
            )
        ).first()
        if inserted is not None:
            await clones.audit(
                session,
                org_id=org_id,
                playbook_id=playbook_id,
                action="proposal_created",
                actor="recommendation-agent",
                from_ref=f"outcomes of the last 30 days on version {current.version}",
                version=current.version,
                detail={"proposal": inserted.id, "kind": cand["kind"], "summary": cand["summary"]},
            )
    return await list_for(session=session, org_id=org_id, playbook_id=playbook_id)


async def list_for(*, session: AsyncSession, org_id: str, playbook_id: str) -> list[ProposalRead]:
    await clones.current_row(session, org_id, playbook_id)
    p = proposals.c
    rows = (
        await session.execute(
            select(proposals).where(p.org_id == org_id, p.playbook_id == playbook_id).order_by(p.created_at, p.id)
        )
    ).all()
    return [_read(r) for r in rows]


async def _open(session: AsyncSession, org_id: str, proposal_id: str) -> Any:
    p = proposals.c
    row = (
        await session.execute(select(proposals).where(p.org_id == org_id, p.id == proposal_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id} in org {org_id}")
    if row.status != "open":
        raise Conflict(f"proposal {proposal_id} was {row.status} already by {row.decided_by}")
    return row


def _items(container: list[Any], key: str, value: str) -> dict[str, Any]:
    for item in container:
        if isinstance(item, dict) and item.get(key) == value:
            return item
    raise Conflict(f"no {key} {value!r} in the playbook's current version: the proposal is stale, refresh proposals")


def apply_change(document: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The document with a proposal's ``set`` operations applied; only defaults and retries are settable."""
    doc = copy.deepcopy(document)
    for op in change.get("set") or []:
        path = op.get("path") if isinstance(op, dict) else None
        if isinstance(path, list) and len(path) == 3 and path[0] == "parameters" and path[2] == "default":
            _items(doc.get("parameters") or [], "name", path[1])["default"] = op.get("value")
        elif isinstance(path, list) and len(path) == 4 and path[:2] == ["runbook", "steps"] and path[3] == "retry":
            _items((doc.get("runbook") or {}).get("steps") or [], "id", path[2])["retry"] = op.get("value")
        else:
            raise Forbidden(
                f"a proposal may set a parameter's default or a runbook step's retry, not {path!r}; identity fields "
                f"({', '.join(clones.IDENTITY_FIELDS)}) are never changed by a proposal"
            )
    before, after = document.get("metadata", {}), doc.get("metadata", {})
    moved = [f for f in clones.IDENTITY_FIELDS if before.get(f) != after.get(f)]
    if moved:  # the second lock: whatever the path said, identity is compared before anything is stored
        raise Forbidden(f"a proposal cannot change identity fields: {moved}")
    return doc


async def approve(
    *,
    session: AsyncSession,
    org_id: str,
    proposal_id: str,
    principal: Principal,
    settings: RecommendationSettings,
    model: str,
) -> tuple[ProposalRead, list[Key]]:
    row = await _open(session, org_id, proposal_id)
    await clones.require_owner(session, org_id, row.playbook_id, principal, "approve its proposals")
    current = await clones.current_row(session, org_id, row.playbook_id, lock=True)
    changed: list[Key]
    if row.kind == "needs_update" or "status" in row.change:
        if row.change != {"status": "needs_update"}:
            raise Forbidden("a status proposal may only mark a playbook needs_update")
        changed = await service.change_status(
            session=session,
            org_id=org_id,
            playbook_id=row.playbook_id,
            version=current.version,
            to="needs_update",
            reason=f"proposal {proposal_id} approved: {row.summary}",
            actor=principal.user_id,
        )
        applied = current.version
    else:
        doc = apply_change(current.document, row.change)
        applied = await clones.next_version(session, org_id, row.playbook_id)
        changed = await clones.store_version(
            session,
            org_id=org_id,
            doc=doc,
            version=applied,
            actor=principal.user_id,
            model=model,
            trusted=clones.is_trusted(current),
            reason=f"proposal {proposal_id} approved: {row.summary}",
        )
    decided = await _decide(session, org_id, proposal_id, principal, status="approved", applied_version=applied)
    await clones.audit(
        session,
        org_id=org_id,
        playbook_id=row.playbook_id,
        action="proposal_approved",
        actor=principal.user_id,
        from_ref=f"proposal {proposal_id} on version {current.version}",
        version=applied,
        detail={"kind": row.kind, "change": row.change, "evidence": row.evidence},
    )
    return _read(decided), changed


async def _decide(session: AsyncSession, org_id: str, proposal_id: str, principal: Principal, **values: Any) -> Any:
    """Record who decided the proposal and when, with the decision's own fields; the row as it now is."""
    p = proposals.c
    return (
        await session.execute(
            update(proposals)
            .where(p.org_id == org_id, p.id == proposal_id)
            .values(decided_by=principal.user_id, decided_at=_now(), **values)
            .returning(proposals)
        )
    ).one()


async def reject(
    *, session: AsyncSession, org_id: str, proposal_id: str, reason: str, principal: Principal
) -> ProposalRead:
    row = await _open(session, org_id, proposal_id)
    await clones.require_owner(session, org_id, row.playbook_id, principal, "reject its proposals")
    decided = await _decide(session, org_id, proposal_id, principal, status="rejected", reason=reason)
    await clones.audit(
        session,
        org_id=org_id,
        playbook_id=row.playbook_id,
        action="proposal_rejected",
        actor=principal.user_id,
        from_ref=f"proposal {proposal_id}",
        detail={"kind": row.kind, "reason": reason},
    )
    return _read(decided)
