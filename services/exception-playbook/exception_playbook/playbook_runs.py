"""Playbooks on exceptions: matching them on, starting them, and completing or skipping their steps.

The exception row holds the state (``current_playbook_id``, ``current_step``, ``version``);
the event log holds the history. Every change is a compare-and-set on the exception's version,
so of two concurrent completions of one step exactly one commits; the other gets a 409 and
changes nothing. Functions take the session and never commit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope, Topic, utcnow
from playbooks_contracts.messages import NotificationRequested, RunbookRequested
from playbooks_contracts.topics import NOTIFICATIONS, RUNBOOK_REQUESTS
from playbooks_platform.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from playbooks_platform.messages import Message, caused_or_new, new

from . import events as ev
from . import service, step_statements
from .conditions import (
    AddCommentParams,
    AssignOwnerParams,
    CallToolParams,
    NotifyParams,
    SetStatusParams,
    StepParams,
    parse_params,
)
from .matching import Facts, MatchResult, match
from .models import exception_events
from .packs import EffectivePolicy
from .playbook_shapes import shape_of
from .schemas import ExceptionCreate, ExceptionPlaybook, StepState
from .service import CandidateCache
from .step_statements import Loaded
from .templating import render, render_value

log = logging.getLogger(__name__)

HUMAN_ONLY_ACTIONS = frozenset({"call_tool"})


@dataclass(frozen=True)
class Actor:
    type: str  # agent | human | system
    id: str
    notes: str | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"actor_type": self.type, "actor_id": self.id}
        if self.notes:
            out["notes"] = self.notes
        return out


SYSTEM = Actor("system", "exception-playbook")


@dataclass
class Options:
    """What the process configures for actions."""

    runbook_runtime_url: str | None = None


@dataclass
class Outcome:
    exception: Row[Any]
    changed: bool
    result: MatchResult | None = None
    events: list[Any] = field(default_factory=list)
    steps: list[Any] | None = None  # the playbook's steps and step events, when the caller had them at hand
    history: dict[int, Any] | None = None
    started: Any = None


# -- matching onto an exception -------------------------------------------------------------


def in_progress(exc: Any) -> bool:
    """A step was completed or skipped, or the playbook finished: matching no longer replaces it."""
    return exc.current_playbook_id is not None and (
        exc.playbook_completed_at is not None or (exc.current_step or 1) > 1
    )


async def evaluate(
    *, session: AsyncSession, tenant_id: str, exc: Any, cache: CandidateCache, now: datetime | None = None
) -> MatchResult:
    candidates = await cache.get(session, tenant_id)
    return match(Facts.of(exc), candidates, now or utcnow())


async def start_playbook_for_exception(
    *,
    session: AsyncSession,
    tenant_id: str,
    exc: Row[Any],
    result: MatchResult,
    actor: Actor = SYSTEM,
    trigger: str,
    causation: Envelope | None = None,
) -> Outcome:
    """Put the matched playbook (or none) on the exception at step 1, unless one is in progress."""
    new_id = result.playbook_id
    if in_progress(exc) or new_id == exc.current_playbook_id:
        return Outcome(exc, changed=False, result=result)
    events: list[tuple[str, dict[str, Any]]] = []
    reasoning = {"summary": result.summary(), **result.details()}
    if exc.current_playbook_id is not None or trigger != "created":
        events.append(
            (
                ev.PLAYBOOK_RECALCULATED,
                {
                    "trigger": trigger,
                    "previous_playbook_id": str(exc.current_playbook_id) if exc.current_playbook_id else None,
                    "playbook_id": str(new_id) if new_id else None,
                    "reasoning": reasoning,
                    **actor.payload(),
                },
            )
        )
    if result.selected is not None:
        events.append(
            (
                ev.PLAYBOOK_STARTED,
                {
                    "playbook_id": str(new_id),
                    "name": result.selected.name,
                    "version": result.selected.version,
                    "step_order": 1,
                    "trigger": trigger,
                    "reasoning": reasoning,
                    **actor.payload(),
                },
            )
        )
    row = await service.cas_update(
        session=session,
        tenant_id=tenant_id,
        current=exc,
        values={"current_playbook_id": new_id, "current_step": 1 if new_id else None, "playbook_completed_at": None},
        what="its playbook was being matched",
    )
    rows = await ev.append(session, tenant_id=tenant_id, exception_id=exc.id, events=events, causation=causation)
    return Outcome(row, changed=True, result=result, events=rows)


async def recalculate(
    *,
    session: AsyncSession,
    tenant_id: str,
    exception_id: uuid.UUID,
    cache: CandidateCache,
    actor: Actor = SYSTEM,
    trigger: str = "recalculate",
    causation: Envelope | None = None,
) -> Outcome:
    """Match again; idempotent: with nothing changed, no event is written and the step stays."""
    exc = await service.get_exception(session=session, tenant_id=tenant_id, exception_id=exception_id)
    return await match_and_start(
        session=session, tenant_id=tenant_id, exc=exc, cache=cache, actor=actor, trigger=trigger, causation=causation
    )


async def match_and_start(
    *,
    session: AsyncSession,
    tenant_id: str,
    exc: Row[Any],
    cache: CandidateCache,
    actor: Actor,
    trigger: str,
    causation: Envelope | None,
) -> Outcome:
    """Match ``exc`` now and put the best playbook on it (the outcome carries the match either way)."""
    result = await evaluate(session=session, tenant_id=tenant_id, exc=exc, cache=cache)
    return await start_playbook_for_exception(
        session=session, tenant_id=tenant_id, exc=exc, result=result, actor=actor, trigger=trigger, causation=causation
    )


# -- creating and updating exceptions ------------------------------------------------------------


async def create_exception(
    *,
    session: AsyncSession,
    tenant_id: str,
    body: ExceptionCreate,
    cache: CandidateCache,
    actor: Actor,
    source_occurred_at: datetime | None = None,
    causation: Envelope | None = None,
) -> Outcome:
    exc = await service.insert_exception(
        session=session, tenant_id=tenant_id, body=body, source_occurred_at=source_occurred_at
    )
    created = await ev.append(
        session,
        tenant_id=tenant_id,
        exception_id=exc.id,
        events=[(ev.EXCEPTION_CREATED, {"severity": exc.severity, "domain": exc.domain, **actor.payload()})],
        causation=causation,
    )
    outcome = await match_and_start(
        session=session, tenant_id=tenant_id, exc=exc, cache=cache, actor=actor, trigger="created", causation=causation
    )
    outcome.events = created + outcome.events
    outcome.changed = True
    return outcome


UPDATABLE = ("severity", "sla_deadline", "policy_tags", "summary", "attributes")


async def update_exception(
    *,
    session: AsyncSession,
    tenant_id: str,
    exc: Row[Any],
    changes: dict[str, Any],
    cache: CandidateCache,
    actor: Actor,
    source_occurred_at: datetime | None = None,
    causation: Envelope | None = None,
) -> Outcome:
    """Apply changed fields (none: nothing happens); a severity change re-runs matching."""
    diff = {k: v for k, v in changes.items() if k in UPDATABLE and getattr(exc, k) != v}
    values: dict[str, Any] = dict(diff)
    if source_occurred_at is not None:
        values["source_occurred_at"] = source_occurred_at
    if not diff:
        if source_occurred_at is not None and exc.source_occurred_at != source_occurred_at:
            exc = await service.cas_update(
                session=session, tenant_id=tenant_id, current=exc, values=values, what="it was being updated"
            )
        return Outcome(exc, changed=False)
    row = await service.cas_update(
        session=session, tenant_id=tenant_id, current=exc, values=values, what="it was being updated"
    )
    described = {
        k: {"from": _jsonable(getattr(exc, k)), "to": _jsonable(v)} for k, v in diff.items() if k != "attributes"
    }
    if "attributes" in diff:
        described["attributes"] = {"changed_keys": sorted(_changed_keys(exc.attributes or {}, diff["attributes"]))}
    rows = await ev.append(
        session,
        tenant_id=tenant_id,
        exception_id=exc.id,
        events=[(ev.EXCEPTION_UPDATED, {"changes": described, **actor.payload()})],
        causation=causation,
    )
    outcome = Outcome(row, changed=True, events=rows)
    if "severity" in diff:
        again = await match_and_start(
            session=session,
            tenant_id=tenant_id,
            exc=row,
            cache=cache,
            actor=actor,
            trigger="severity_changed",
            causation=causation,
        )
        outcome.exception, outcome.result = again.exception, again.result
        outcome.events += again.events
    return outcome


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


# -- steps ------------------------------------------------------------------------------------


async def _step_history(
    session: AsyncSession, tenant_id: str, exception_id: uuid.UUID, playbook_id: uuid.UUID
) -> tuple[dict[int, Any], Any]:
    """The completion or skip event of each step of this playbook run, by step order, and its start event."""
    e = exception_events.c
    rows = (
        await session.execute(
            select(exception_events)
            .where(
                e.tenant_id == tenant_id,
                e.exception_id == exception_id,
                e.event_type.in_((ev.STEP_COMPLETED, ev.STEP_SKIPPED, ev.PLAYBOOK_STARTED)),
                e.payload["playbook_id"].astext == str(playbook_id),
            )
            .order_by(e.seq)
        )
    ).all()
    done: dict[int, Any] = {}
    started = None
    for row in rows:
        if row.event_type == ev.PLAYBOOK_STARTED:
            done, started = {}, row  # the playbook was put on again: its steps start over
        else:
            done[int(row.payload["step_order"])] = row
    return done, started


def _verb(event_type: str) -> str:
    return "completed" if event_type == ev.STEP_COMPLETED else "skipped"


async def _next_step(
    session: AsyncSession, tenant_id: str, exc: Row[Any], step_order: int, verb: str, history: dict[int, Any]
) -> tuple[Row[Any], list[Any]]:
    """The step to act on, checked to be the next expected one (409 naming the one that is)."""
    if exc.current_playbook_id is None:
        raise Conflict(
            f"exception {exc.id} has no playbook; POST /api/exceptions/{exc.id}/playbook/recalculate to match one"
        )
    steps = list((await shape_of(session, tenant_id, exc.current_playbook_id)).steps)
    by_order = {s.step_order: s for s in steps}
    if step_order not in by_order:
        raise NotFound(f"the playbook has no step {step_order}; its steps are 1 to {len(steps)}")
    if step_order in history:
        done = history[step_order]
        p = done.payload
        raise Conflict(
            f"step {step_order} was already {_verb(done.event_type)} by {p.get('actor_type')} {p.get('actor_id')} "
            f"at {done.created_at.isoformat()}; it cannot be {verb} again"
            + ("; the playbook is complete" if exc.playbook_completed_at else f"; the next step is {exc.current_step}"),
            step_order=step_order,
        )
    if exc.playbook_completed_at is not None or exc.current_step is None:
        raise Conflict(f"the playbook of exception {exc.id} is already complete")
    if step_order != exc.current_step:
        raise InvalidTransition(
            f"step {step_order} is not the next step: step {exc.current_step} must be completed or skipped first",
            expected_step=exc.current_step,
        )
    return by_order[step_order], steps


def _check_actor(step: Row[Any], actor: Actor, verb: str) -> None:
    if (step.risky or step.action_type in HUMAN_ONLY_ACTIONS) and actor.type != "human":
        why = "is marked risky" if step.risky else f"is a {step.action_type} step"
        raise Forbidden(
            f"step {step.step_order} ({step.name}) {why}: only a human may have it {verb}, not an {actor.type}"
            if actor.type == "agent"
            else f"step {step.step_order} ({step.name}) {why}: only a human may have it {verb}, not {actor.type}"
        )


def template_context(exc: Row[Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What placeholders may name: the exception's attributes (also at the top), its fields, extras."""
    fields = {
        "id": str(exc.id),
        "external_id": exc.external_id,
        "domain": exc.domain,
        "exception_type": exc.exception_type,
        "severity": exc.severity,
        "status": exc.status,
        "owner": exc.owner,
        "summary": exc.summary,
        "sla_deadline": exc.sla_deadline.isoformat() if exc.sla_deadline else None,
        "policy_tags": list(exc.policy_tags or []),
    }
    attributes = dict(exc.attributes or {})
    return {**attributes, **fields, **(extra or {}), "attributes": attributes, "exception": fields}


@dataclass
class ActionEffect:
    values: dict[str, Any] = field(default_factory=dict)  # exception columns to change
    result: dict[str, Any] = field(default_factory=dict)
    messages: list[tuple[Topic, Message]] = field(default_factory=list)


def _completed_steps(history: dict[int, Any]) -> int:
    return sum(1 for row in history.values() if row.event_type == ev.STEP_COMPLETED)


@dataclass(frozen=True)
class ActionCall:
    """What a step's action sees: the exception and its step, the tenant's policy, the step events so
    far, who acts, the process's options and the message that caused it."""

    tenant_id: str
    exc: Row[Any]
    step: Row[Any]
    policy: EffectivePolicy
    history: dict[int, Any]
    actor: Actor
    options: Options
    causation: Envelope | None = None


async def run_action(call: ActionCall, params: StepParams) -> ActionEffect:
    """What the step's action does, checked against the policy; nothing is written here."""
    if isinstance(params, NotifyParams):
        return _notify(call, params)
    if isinstance(params, AssignOwnerParams):
        return ActionEffect(
            values={"owner": params.owner}, result={"owner": params.owner, "previous_owner": call.exc.owner}
        )
    if isinstance(params, SetStatusParams):
        return _set_status(call, params)
    if isinstance(params, AddCommentParams):
        comment, missing = render(params.text_template, template_context(call.exc))
        return ActionEffect(result={"comment": comment, "missing_placeholders": missing})
    if isinstance(params, CallToolParams):
        return _call_tool(call, params)
    return ActionEffect()


def _notify(call: ActionCall, params: NotifyParams) -> ActionEffect:
    exc, policy, tenant_id, causation = call.exc, call.policy, call.tenant_id, call.causation
    effect = ActionEffect()
    if params.channel not in policy.policy.notification_channels:
        raise Forbidden(
            f"channel {params.channel!r} is not allowed by the tenant's policy pack "
            f"(notification_channels: {policy.policy.notification_channels})"
        )
    template = policy.template(params.template_id)
    if template is None:
        raise Invalid(
            f"template {params.template_id!r} is in neither the tenant's policy pack nor the "
            f"{exc.domain} domain pack; add it to one of them"
        )
    context = template_context(exc, dict(params.placeholders))
    body, missing = render(template.body, context)
    subject, gaps = render(template.subject, context) if template.subject else (None, [])
    note = NotificationRequested(
        channel=params.channel,
        template_id=params.template_id,
        body=body,
        subject=subject,
        exception_id=exc.id,
        recipients=list(params.recipients),
    )
    effect.messages.append(
        (
            NOTIFICATIONS,
            caused_or_new(
                causation,
                type="notification.requested",
                data=note.model_dump(mode="json"),
                org_id=tenant_id,
                source=ev.SOURCE,
                clamp=True,
            ),
        )
    )
    effect.result = {
        "channel": params.channel,
        "template_id": params.template_id,
        "recipients": list(params.recipients),
        "subject": subject,
        "body": body,
        "missing_placeholders": sorted(set(missing + gaps)),
        "notification_id": effect.messages[-1][1]["id"],
    }
    return effect


def _set_status(call: ActionCall, params: SetStatusParams) -> ActionEffect:
    exc, policy, target = call.exc, call.policy, params.status
    if target == exc.status:
        return ActionEffect(result={"status": target, "previous_status": exc.status, "unchanged": True})
    resolved = policy.policy.resolved_status
    if target == resolved and exc.status == "open" and not _completed_steps(call.history):
        raise InvalidTransition(
            f"{exc.status} -> {target} is refused: an exception cannot be resolved before any step of its "
            "playbook was completed"
        )
    if not policy.can_transition(exc.status, target):
        raise InvalidTransition(
            f"the tenant's policy pack does not allow {exc.status} -> {target}; "
            f"from {exc.status} it allows {policy.allowed_from(exc.status) or 'nothing'}"
        )
    return ActionEffect(values={"status": target}, result={"status": target, "previous_status": exc.status})


def _call_tool(call: ActionCall, params: CallToolParams) -> ActionEffect:
    """Logged, never executed here; with a runbook behind the tool, a dry-run of it is requested."""
    exc, policy, tenant_id = call.exc, call.policy, call.tenant_id
    effect = ActionEffect()
    if not policy.tool_allowed(params.tool_id):
        raise Forbidden(
            f"tool {params.tool_id!r} is not on the tenant's tool allow-list "
            f"({policy.policy.tool_allow_list or 'empty'}); a policy pack must allow it first"
        )
    gaps_in_payload: list[str] = []
    payload = render_value(params.payload_template, template_context(exc), gaps_in_payload)
    said = f"would call tool {params.tool_id} with params {orjson.dumps(payload).decode()}"
    log.info(said, extra={"tenant_id": tenant_id, "exception_id": str(exc.id), "tool_id": params.tool_id})
    effect.result = {
        "tool_id": params.tool_id,
        "params": payload,
        "message": said,
        "executed": False,
        "missing_placeholders": sorted(set(gaps_in_payload)),
    }
    tool = policy.tool(params.tool_id)
    if call.options.runbook_runtime_url and tool is not None and tool.runbook_ref:
        request_id = f"exception-playbook:{exc.id}:{call.step.step_id}"
        request = RunbookRequested(
            request_id=request_id,
            mode="dry-run",
            runbook_ref=tool.runbook_ref,
            vars={k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in payload.items()},
            playbook_id=str(exc.current_playbook_id),
            requested_by=f"{call.actor.type}:{call.actor.id}",
        )
        effect.messages.append(
            (
                RUNBOOK_REQUESTS,
                new(
                    type="runbook.requested",
                    org_id=tenant_id,
                    data=request.model_dump(mode="json"),
                    source=ev.SOURCE,
                ),
            )
        )
        effect.result["runbook_dry_run"] = {
            "request_id": request_id,
            "runbook_ref": tool.runbook_ref,
            "runtime": call.options.runbook_runtime_url,
        }
    return effect


async def complete_step(
    *,
    session: AsyncSession,
    tenant_id: str,
    exception_id: uuid.UUID,
    step_order: int,
    actor: Actor,
    options: Options | None = None,
    causation: Envelope | None = None,
) -> Outcome:
    """Run the next step's action and record it; the last step also completes the playbook."""
    return await advance_step(
        session=session,
        tenant_id=tenant_id,
        exception_ref=str(exception_id),
        step_order=step_order,
        actor=actor,
        options=options or Options(),
        skip=False,
        causation=causation,
    )


async def advance_step(
    *,
    session: AsyncSession,
    tenant_id: str,
    exception_ref: str,
    step_order: int,
    actor: Actor,
    options: Options,
    skip: bool,
    causation: Envelope | None = None,
    state: Loaded | None = None,
) -> Outcome:
    """Complete the next step (run its action and record it; the last step also completes the playbook)
    or, with ``skip``, pass over it without running its action (only where the step allows it).

    Two statements (``step_statements``): the exception with its step events and packs read in one,
    unless the caller has ``state`` (so read) at hand, and the compare-and-set, events and outbox in one.
    """
    verb = "skipped" if skip else "completed"
    if state is None:
        state = await step_statements.load(session, tenant_id, exception_ref)
    exc, history, started, policy = state.exception, state.history, state.started, state.policy
    step, steps = await _next_step(session, tenant_id, exc, step_order, verb, history)
    _check_actor(step, actor, verb)
    base = {
        "playbook_id": str(exc.current_playbook_id),
        "step_id": str(step.step_id),
        "step_order": step.step_order,
        "name": step.name,
        "action_type": step.action_type,
        **actor.payload(),
    }
    params = parse_params(step.action_type, step.params)
    if skip:
        if not step.skippable:
            raise InvalidTransition(f"step {step_order} ({step.name}) cannot be skipped; complete it instead")
        effect = ActionEffect()
        events: list[tuple[str, dict[str, Any]]] = [(ev.STEP_SKIPPED, base)]
    else:
        call = ActionCall(tenant_id, exc, step, policy, history, actor, options, causation)
        effect = await run_action(call, params)
        events = [(ev.STEP_COMPLETED, {**base, "result": effect.result, **policy.reference()})]
    values = dict(effect.values)
    if step.step_order == steps[-1].step_order:
        events.append(
            (ev.PLAYBOOK_COMPLETED, _complete_playbook(exc, steps, history, values, params, policy, actor, skip))
        )
    else:
        values["current_step"] = step.step_order + 1
    now = utcnow()
    rows, items = ev.stage(
        tenant_id=tenant_id, exception_id=exc.id, events=events, also=effect.messages, causation=causation, now=now
    )
    row = await step_statements.write(
        session,
        tenant_id=tenant_id,
        current=exc,
        values=values,
        events=rows,
        items=items,
        now=now,
        what=f"step {step_order} was being {verb}",
    )
    history = dict(history)
    for event in rows:
        if event.event_type in (ev.STEP_COMPLETED, ev.STEP_SKIPPED):
            history[step.step_order] = event
    return Outcome(row, changed=True, events=rows, steps=steps, history=history, started=started)


def _complete_playbook(
    exc: Row[Any],
    steps: list[Any],
    history: dict[int, Any],
    values: dict[str, Any],
    params: StepParams,
    policy: EffectivePolicy,
    actor: Actor,
    skip: bool,
) -> dict[str, Any]:
    """The playbook.completed payload of the last step; ``values`` gains the columns that close the
    playbook, and the resolved status when the step resolves on completion and the policy allows it."""
    values["current_step"] = None
    values["playbook_completed_at"] = utcnow()
    status_now = values.get("status", exc.status)
    completed: dict[str, Any] = {
        "playbook_id": str(exc.current_playbook_id),
        "steps": len(steps),
        "skipped": sum(1 for r in history.values() if r.event_type == ev.STEP_SKIPPED) + (1 if skip else 0),
        **actor.payload(),
    }
    resolved = policy.policy.resolved_status
    if not skip and params.resolve_on_completion and status_now != resolved:
        if not policy.policy.resolve_on_completion:
            completed["status_unchanged"] = "the tenant's policy pack turns resolve_on_completion off"
        elif not policy.can_transition(status_now, resolved):
            completed["status_unchanged"] = f"the policy pack does not allow {status_now} -> {resolved}"
        else:
            values["status"] = resolved
            completed["status"] = resolved
            completed["previous_status"] = status_now
    return completed


# -- reading the playbook of an exception ----------------------------------------------------------


async def playbook_view(
    *, session: AsyncSession, tenant_id: str, exc: Row[Any], cache: CandidateCache, outcome: Outcome | None = None
) -> ExceptionPlaybook:
    """The exception's playbook with per-step status derived from the event log, and the reasoning."""
    if exc.current_playbook_id is None:
        result = await evaluate(session=session, tenant_id=tenant_id, exc=exc, cache=cache)
        summary = result.summary()
        if result.selected is not None:
            summary = f"No playbook is on this exception yet; recalculating would select it. {summary}"
        return ExceptionPlaybook(
            exception_id=exc.id,
            playbook_id=None,
            state="none",
            current_step=None,
            reasoning=summary,
            reasoning_details=result.details(),
            exception_status=exc.status,
            exception_version=exc.version,
        )
    pb = await shape_of(session, tenant_id, exc.current_playbook_id)
    if outcome is not None and outcome.steps is not None and outcome.history is not None:
        steps, history = outcome.steps, outcome.history
        started = outcome.started
    else:
        steps = list(pb.steps)
        history, started = await _step_history(session, tenant_id, exc.id, pb.playbook_id)
    states = []
    for s in steps:
        done = history.get(s.step_order)
        states.append(
            StepState(
                step_id=s.step_id,
                step_order=s.step_order,
                name=s.name,
                action_type=s.action_type,
                params=s.params,
                risky=s.risky,
                skippable=s.skippable,
                status="pending"
                if done is None
                else ("completed" if done.event_type == ev.STEP_COMPLETED else "skipped"),
                actor_type=done.payload.get("actor_type") if done else None,
                actor_id=done.payload.get("actor_id") if done else None,
                at=done.created_at if done else None,
            )
        )
    reasoning = started.payload.get("reasoning") if started is not None else None
    state: Literal["completed", "in_progress", "not_started"] = (
        "completed" if exc.playbook_completed_at else ("in_progress" if in_progress(exc) else "not_started")
    )
    return ExceptionPlaybook(
        exception_id=exc.id,
        playbook_id=pb.playbook_id,
        name=pb.name,
        version=pb.version,
        state=state,
        current_step=exc.current_step,
        steps=states,
        reasoning=reasoning.get("summary") if isinstance(reasoning, dict) else None,
        reasoning_details=reasoning if isinstance(reasoning, dict) else None,
        exception_status=exc.status,
        exception_version=exc.version,
    )
