"""The only things a playbook can do: ``log_activity`` and ``enqueue_task``. No external side effects.

Actions are validated when a playbook is written and planned per run: ``plan_actions`` turns
them into the rows and messages a run would produce, without touching anything. The worker
commits a plan; a dry-run shows it. A run whose planning fails (an action error) commits none
of its effects, so a failed run never leaves half of its actions behind.

A string parameter that is exactly ``"{{ dotted.path }}"`` is replaced by that value of the
event (data only: no expressions). A path the event lacks is an action error.

An ``enqueue_task`` on the ``runbook`` queue also asks the runbook runtime to execute a runbook
the org published, by ``runbook_id`` and ``runbook_version`` (or a ``runbook_ref``, a file the
operator installed), in ``dry-run`` mode unless the params say otherwise; a ``replay`` carries its
recorded ``scenario``. Events fill slots, not programs (docs/decisions/0008-events-fill-slots.md):
only the values of ``vars`` may come from the event, each one a single value; the runbook, its
version, the mode and the scenario are the playbook author's, and an inline runbook is refused.
The runtime then accepts only vars the runbook declares, within their ``allowed`` values.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from playbooks_contracts import MAX_CAUSATION_DEPTH, Envelope
from playbooks_contracts.messages import RunbookRequested
from playbooks_contracts.runbook import IDENT
from playbooks_contracts.topics import ACTIVITY_LOGGED, RUNBOOK_REQUESTS, TASKS_ENQUEUED, Topic
from playbooks_platform.ids import new_id

from .dsl import PATH_PATTERN
from .wire import caused, id_text

ACTION_TYPES = ("log_activity", "enqueue_task")
RUNBOOK_QUEUE = "runbook"
RUNBOOK_MODES = ("dry-run", "replay", "real")
MAX_ACTIONS = 20
MAX_PARAMS_BYTES = 16 * 1024
MAX_NAME = 128
_REF = re.compile(r"^\{\{\s*(.*?)\s*\}\}$")
_VAR_NAME = re.compile(IDENT)
# What a runbook task may say; anything else (an inline ``runbook`` above all) is refused.
RUNBOOK_PARAMS = frozenset(
    {
        "queue",
        "runbook_id",
        "runbook_version",
        "runbook_ref",
        "mode",
        "vars",
        "scenario",
        "playbook_id",
        "playbook_version",
    }
)


class ActionError(ValueError):
    """An action that cannot be accepted (when written) or cannot run (when planned)."""

    def __init__(self, index: int, part: str, reason: str) -> None:
        super().__init__(f"actions[{index}].{part}: {reason}")
        self.index, self.part, self.reason = index, part, reason


@dataclass(frozen=True, slots=True)
class Action:
    type: str
    params: dict[str, Any]
    # Whether any parameter refers to the event; one that does not is planned as it is,
    # without rendering it again for every run.
    templated: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "params": self.params}


def _name(index: int, part: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ActionError(index, part, "a non-empty string is required")
    if len(value) > MAX_NAME:
        raise ActionError(index, part, f"longer than {MAX_NAME} characters")
    return value


def _check_refs(index: int, value: Any, where: str) -> bool:
    """Template references must be dotted paths, checked now rather than at run time.

    Returns whether there is any: params without one are planned as they are.
    """
    if isinstance(value, str):
        match = _REF.match(value)
        if match and not PATH_PATTERN.match(match.group(1)):
            raise ActionError(index, where, f"{match.group(1)!r} is not a dotted path into the event")
        return match is not None
    found = False
    if isinstance(value, dict):
        for k, v in value.items():
            found = _check_refs(index, v, f"{where}.{k}") or found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _check_refs(index, v, f"{where}[{i}]") or found
    return found


def parse_action(index: int, raw: Any) -> Action:
    if not isinstance(raw, dict):
        raise ActionError(index, "(action)", "expected an object with type and params")
    unknown = sorted(set(raw) - {"type", "params"})
    if unknown:
        raise ActionError(index, unknown[0], "unknown key; an action has only type and params")
    kind = raw.get("type")
    if kind not in ACTION_TYPES:
        raise ActionError(
            index, "type", f"unknown action type {kind!r}; playbooks can only {' or '.join(ACTION_TYPES)}"
        )
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ActionError(index, "params", "must be an object")
    try:
        size = len(orjson.dumps(params))
    except TypeError as exc:
        raise ActionError(index, "params", f"not JSON: {exc}") from None
    if size > MAX_PARAMS_BYTES:
        raise ActionError(index, "params", f"{size} bytes, over the limit of {MAX_PARAMS_BYTES}")
    if kind == "log_activity":
        extra = sorted(set(params) - {"type", "metadata"})
        if extra:
            raise ActionError(index, f"params.{extra[0]}", "log_activity takes only type and metadata")
        _name(index, "params.type", params.get("type"))
        if not isinstance(params.get("metadata", {}), dict):
            raise ActionError(index, "params.metadata", "must be an object")
    else:
        queue = _name(index, "params.queue", params.get("queue"))
        if _REF.match(queue):  # a queue the event chose could turn any task into a runbook request
            raise ActionError(index, "params.queue", "the queue is the playbook's; it cannot come from the event")
        if queue == RUNBOOK_QUEUE:
            _check_runbook_params(index, params)
    return Action(kind, params, templated=_check_refs(index, params, "params"))


def _check_runbook_params(index: int, params: dict[str, Any]) -> None:
    if "runbook" in params:
        raise ActionError(
            index,
            "params.runbook",
            "inline runbooks are refused: the runbook automation starts is one the org published, never one an "
            "action carries; publish it (POST /api/compile with publish) and name it with runbook_id and "
            "runbook_version",
        )
    unknown = sorted(set(params) - RUNBOOK_PARAMS)
    if unknown:
        raise ActionError(
            index, f"params.{unknown[0]}", f"unknown key; a runbook task takes {', '.join(sorted(RUNBOOK_PARAMS))}"
        )
    for key, value in params.items():
        # Only vars are slots: the event never chooses the runbook, its version, the mode or the scenario.
        if key != "vars" and _check_refs(index, value, f"params.{key}"):
            raise ActionError(index, f"params.{key}", "only the values of vars may come from the event")
    has_ref, has_id = "runbook_ref" in params, "runbook_id" in params
    if has_ref == has_id:
        raise ActionError(
            index,
            "params",
            "a runbook task needs exactly one of runbook_ref (a file the operator installed) or runbook_id with "
            "runbook_version (a runbook the org published)",
        )
    if has_ref:
        _name(index, "params.runbook_ref", params["runbook_ref"])
        if "runbook_version" in params:
            raise ActionError(index, "params.runbook_version", "goes with runbook_id, not runbook_ref")
    else:
        _name(index, "params.runbook_id", params["runbook_id"])
        _name(index, "params.runbook_version", params.get("runbook_version"))
    mode = params.get("mode", "dry-run")
    if mode not in RUNBOOK_MODES:
        raise ActionError(index, "params.mode", f"{mode!r} is not one of {', '.join(RUNBOOK_MODES)}")
    variables = params.get("vars", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ActionError(index, "params.vars", "must be an object of strings")
    for name in variables:
        if not _VAR_NAME.match(name):
            raise ActionError(index, f"params.vars.{name}", "not a runbook var name (letters, digits, _)")
    for key in ("playbook_id", "playbook_version"):
        if key in params:
            _name(index, f"params.{key}", params[key])
    scenario = params.get("scenario")
    if mode == "replay" and not isinstance(scenario, dict):
        raise ActionError(index, "params.scenario", "a replay needs the recorded scenario to answer from")
    if scenario is not None and not isinstance(scenario, dict):
        raise ActionError(index, "params.scenario", "must be a scenario object")


def validate_actions(raw: Any) -> list[Action]:
    if not isinstance(raw, list):
        raise ActionError(0, "(actions)", "actions must be an array")
    if len(raw) > MAX_ACTIONS:
        raise ActionError(MAX_ACTIONS, "(action)", f"at most {MAX_ACTIONS} actions per playbook")
    return [parse_action(i, a) for i, a in enumerate(raw)]


# -- planning ------------------------------------------------------------------------------


@dataclass(slots=True)
class ActivityRow:
    id: uuid.UUID
    type: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class TaskRow:
    id: uuid.UUID
    queue: str
    params: dict[str, Any]


@dataclass(slots=True)
class Plan:
    """What a run's actions produce: rows to write and messages to publish (through the outbox)."""

    activities: list[ActivityRow] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)
    # (index of the action that publishes it, topic, envelope in its JSON form)
    messages: list[tuple[int, Topic, dict[str, Any]]] = field(default_factory=list)

    def describe(self, actions: list[Action]) -> list[dict[str, Any]]:
        """Each action with what it would write and publish (for dry-runs)."""
        return [
            {
                "index": i,
                **action.as_dict(),
                "publishes": [
                    {"topic": t.name, "type": env["type"], "data": env["data"]}
                    for at, t, env in self.messages
                    if at == i
                ],
            }
            for i, action in enumerate(actions)
        ]


def _lookup(data: Any, path: str) -> Any:
    node = data
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(path)
    return node


def _render(index: int, value: Any, event: dict[str, Any]) -> Any:
    if isinstance(value, str):
        match = _REF.match(value)
        if match is None:
            return value
        try:
            return _lookup(event, match.group(1))
        except KeyError:
            raise ActionError(index, "params", f"{match.group(1)} is missing from the event") from None
    if isinstance(value, dict):
        return {k: _render(index, v, event) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(index, v, event) for v in value]
    return value


def _slot_values(index: int, variables: dict[str, Any]) -> dict[str, str]:
    """Rendered vars as text; a var takes one value, never an object or a list from the event."""
    out = {}
    for name, value in variables.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool | int | float):
            out[name] = orjson.dumps(value).decode()
        else:
            kind = "nothing" if value is None else type(value).__name__
            raise ActionError(index, f"params.vars.{name}", f"the event gave {kind}; a var takes a single value")
    return out


_SOURCE_PREFIX = "condition-engine:playbook:"


def source_of(playbook_id: uuid.UUID) -> str:
    """The ``source`` of everything a playbook publishes: how its own output is recognised."""
    return f"{_SOURCE_PREFIX}{id_text(playbook_id)}"


def caused_by_playbook(event: Envelope) -> uuid.UUID | None:
    """The playbook whose action caused this event, if one did."""
    if event.source.startswith(_SOURCE_PREFIX):
        try:
            return uuid.UUID(event.source[len(_SOURCE_PREFIX) :])
        except ValueError:
            return None
    return None


def plan_actions(
    actions: list[Action], *, event: Envelope, playbook_id: uuid.UUID, run_id: uuid.UUID, occurred_at: str
) -> Plan:
    """The effects of running ``actions`` for ``event``; raises ``ActionError`` if one cannot run."""
    if actions and event.depth >= MAX_CAUSATION_DEPTH:
        raise ActionError(
            0,
            "(action)",
            f"the event is already {event.depth} steps deep in a causation chain (limit {MAX_CAUSATION_DEPTH}); "
            "its actions would exceed it",
        )
    plan = Plan()
    source = source_of(playbook_id)
    pb, run = id_text(playbook_id), str(run_id)
    for i, action in enumerate(actions):
        # Shared, not copied, when static: plans are only ever serialised, never changed.
        params = _render(i, action.params, event.data) if action.templated else action.params
        ident = new_id()
        if action.type == "log_activity":
            metadata = dict(params.get("metadata") or {})
            plan.activities.append(ActivityRow(ident, params["type"], metadata))
            data = {"activity_id": str(ident), "type": params["type"], "metadata": metadata}
            env = caused(
                event,
                type="activity.logged",
                data=data | {"playbook_id": pb, "run_id": run},
                source=source,
                occurred_at=occurred_at,
                id=ident,
            )
            plan.messages.append((i, ACTIVITY_LOGGED, env))
            continue
        queue = params["queue"]
        task_params = {k: v for k, v in params.items() if k != "queue"}
        plan.tasks.append(TaskRow(ident, queue, task_params))
        data = {"task_id": str(ident), "queue": queue, "params": task_params, "playbook_id": pb, "run_id": run}
        plan.messages.append(
            (
                i,
                TASKS_ENQUEUED,
                caused(event, type="task.enqueued", data=data, source=source, occurred_at=occurred_at, id=ident),
            )
        )
        if queue == RUNBOOK_QUEUE:
            request = RunbookRequested(
                request_id=f"condition-engine:{ident}",
                mode=task_params.get("mode", "dry-run"),
                runbook_id=task_params.get("runbook_id"),
                runbook_version=task_params.get("runbook_version"),
                runbook_ref=task_params.get("runbook_ref"),
                scenario=task_params.get("scenario"),
                vars=_slot_values(i, task_params.get("vars") or {}),
                playbook_id=task_params.get("playbook_id"),
                playbook_version=task_params.get("playbook_version"),
                requested_by=f"playbook:{playbook_id}",
            ).model_dump(mode="json")
            env = caused(event, type="runbook.requested", data=request, source=source, occurred_at=occurred_at)
            plan.messages.append((i, RUNBOOK_REQUESTS, env))
    return plan
