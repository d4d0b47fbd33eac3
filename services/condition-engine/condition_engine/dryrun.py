"""Dry-runs: what a playbook would do for an event, computed by the worker's own code, with no effect.

``sample_event`` fabricates an event from the trigger and the conditions (a value that
exercises each condition); ``dry_run`` evaluates a playbook on it, or on an event the caller
sends, and reports every condition and the actions with the messages they would publish.
Nothing is written and nothing is published.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import orjson
from pydantic import ValidationError

from playbooks_contracts import Envelope, utcnow
from playbooks_contracts.triggers import TRIGGER_DATA, Activity, ActivityEventData, TriggerType
from playbooks_platform.messages import timestamp

from .actions import ActionError, validate_actions
from .dsl import ORDERING, Condition, ConditionError, compile_conditions, is_number, validate_conditions
from .evaluation import CompiledPlaybook, evaluate, run_context


def _skeleton(trigger: str) -> dict[str, Any]:
    if trigger == TriggerType.ACTIVITY_EVENT:
        return ActivityEventData(activity=Activity(type="sample_activity")).model_dump(mode="json")
    return {"metrics": {}}


def _number(conditions: list[Condition]) -> int | float:
    """A number that fits every bound (an integer when one fits) and differs from every excluded one."""
    bounds = [(c.op, float(c.value)) for c in conditions if c.op in ORDERING]
    excluded = {float(c.value) for c in conditions if c.op == "not_equals"}

    def fits(v: float) -> bool:
        ok = {"gt": v.__gt__, "gte": v.__ge__, "lt": v.__lt__, "lte": v.__le__}
        return v not in excluded and all(ok[op](b) for op, b in bounds)

    lows = [b for op, b in bounds if op in ("gt", "gte")]
    highs = [b for op, b in bounds if op in ("lt", "lte")]
    lo, hi = max(lows, default=None), min(highs, default=None)
    if lo is not None and hi is not None:
        middle = (lo + hi) / 2
        candidates = [math.floor(middle), math.ceil(middle), middle, lo, hi]
    elif lo is not None:
        candidates = [math.floor(lo) + 1, lo]
    elif hi is not None:
        candidates = [math.ceil(hi) - 1, hi]
    else:
        candidates = [0.0]
    for start in candidates:
        for step in range(len(excluded) + 1):  # step past excluded values
            value = float(start) + step
            if fits(value):
                return int(value) if value.is_integer() else value
    return candidates[0]  # contradictory conditions: the dry-run will show which fail


def _sample_value(conditions: list[Condition]) -> Any:
    equal = next((c for c in conditions if c.op == "equals"), None)
    if equal is not None:
        return equal.value
    if any(c.op in ORDERING or is_number(c.value) for c in conditions if c.op != "contains"):
        return _number([c for c in conditions if c.op in ORDERING or c.op == "not_equals"])
    booleans = [c for c in conditions if isinstance(c.value, bool)]
    if booleans:
        return not booleans[0].value
    needles = [c.value for c in conditions if c.op == "contains"]
    if any(not isinstance(n, str) for n in needles):
        return needles  # an array holding each element the conditions look for
    prefix = next((str(c.value) for c in conditions if c.op == "starts_with"), "")
    value = prefix + "sample" + "".join(f"_{n}" for n in needles)
    while value in {c.value for c in conditions if c.op == "not_equals"}:
        value += "_other"
    return value


def _set_path(event: dict[str, Any], keys: list[str], value: Any) -> None:
    node = event
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def sample_event(trigger: str, conditions: list[Condition]) -> dict[str, Any]:
    """An event of ``trigger`` with, at each condition's field, a value meant to pass it."""
    event = _skeleton(trigger)
    by_field: dict[str, list[Condition]] = {}
    for c in conditions:
        by_field.setdefault(c.field, []).append(c)
    for field, group in by_field.items():
        _set_path(event, field.split("."), _sample_value(group))
    return event


def normalise(trigger: str, data: dict[str, Any]) -> dict[str, Any]:
    """The event as trigger-ingest would put it on ``triggers.v1`` (a bad one is a ``ValueError``)."""
    try:
        return TRIGGER_DATA[TriggerType(trigger)].model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(event)"
        raise ValueError(f"not a valid {trigger} event: {where}: {first['msg']}") from None


def dry_run(playbook: Any, org_id: str, event: dict[str, Any] | None, depth: int = 0) -> dict[str, Any]:
    """What a run of ``playbook`` (a stored row) would record and do for ``event`` (default: a sample)."""
    try:
        conditions = validate_conditions(playbook.conditions)
        actions = validate_actions(playbook.actions)
        error = None
    except (ConditionError, ActionError) as exc:
        conditions, actions, error = [], [], f"the stored playbook is invalid: {exc}"
    data = event if event is not None else sample_event(playbook.trigger, conditions)
    compiled = compile_conditions(conditions)
    compiled_playbook = CompiledPlaybook(
        playbook.id, org_id, playbook.name, playbook.trigger, playbook.version, compiled, actions, error
    )
    envelope = Envelope(id=uuid.uuid4(), type=playbook.trigger, org_id=org_id, depth=depth, data=data)
    outcome = evaluate(
        compiled_playbook,
        envelope,
        orjson.dumps(data).decode(),
        run_context(playbook.trigger, data),
        timestamp(utcnow()),
    )
    results = [r.as_dict() for r in compiled.evaluate(data)]
    if outcome.plan is not None:
        previews, reason = outcome.plan.describe(actions), None
    else:
        failed = [r["message"] for r in results if not r["passed"]]
        reason = outcome.error or outcome.metrics.get("skipReason") or "; ".join(failed) or "no action would run"
        previews = []
    return {
        "playbook_id": playbook.id,
        "trigger": playbook.trigger,
        "sample_event": data,
        "conditions": results,
        "would_run": outcome.status == "success",
        "status": outcome.status,
        "actions": previews,
        "reason": reason,
    }
