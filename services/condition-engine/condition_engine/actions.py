"""The only things a playbook can do: ``log_activity`` and ``enqueue_task``. No external side effects.

Actions are validated when a playbook is written and planned per run: ``plan_actions`` turns
them into the rows and messages a run would produce, without touching anything. The worker
commits a plan; a dry-run shows it. A run whose planning fails (an action error) commits none
of its effects, so a failed run never leaves half of its actions behind.

String parameters are templates of the platform's one language (decision 0024): a string that is
exactly ``"{{ .dotted.path }}"`` is replaced by that value of the event, keeping its type; in
longer text each ``{{ .path }}`` is written as text (data only: no expressions). A path the event
lacks is an action error. The old whole-string form ``"{{ dotted.path }}"`` is still accepted for
one release and read as ``"{{ .dotted.path }}"`` (:func:`upgrade_actions`).

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

from playbooks_contracts import Envelope, templating
from playbooks_contracts.messages import RunbookRequested
from playbooks_contracts.runbook import IDENT
from playbooks_contracts.templating import Deprecation, TemplateError, bare_change, is_old_bare, is_templated
from playbooks_contracts.topics import ACTIVITY_LOGGED, RUNBOOK_REQUESTS, TASKS_ENQUEUED, Topic
from playbooks_platform import messages
from playbooks_platform.messages import MAX_DEPTH, Cause, new_id_text

ACTION_TYPES = ("log_activity", "enqueue_task")
RUNBOOK_QUEUE = "runbook"
RUNBOOK_MODES = ("dry-run", "replay", "real")
MAX_ACTIONS = 20
MAX_PARAMS_BYTES = 16 * 1024
MAX_NAME = 128
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
        if is_old_bare(value):
            inner = templating.bare_inner(value)
            raise ActionError(index, where, f"{inner!r} is not a dotted path into the event")
        return is_templated(value)
    found = False
    if isinstance(value, dict):
        for k, v in value.items():
            found = _check_refs(index, v, f"{where}.{k}") or found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _check_refs(index, v, f"{where}[{i}]") or found
    return found


def _upgrade_params(index: int, params: dict[str, Any]) -> tuple[dict[str, Any], list[Deprecation]]:
    try:
        converted, found = templating.upgrade_document(params, f"actions[{index}].params", bare_change)
        templating.check(converted)
    except TemplateError as exc:
        raise ActionError(index, "params", str(exc)) from None
    return converted, found


def upgrade_actions(raw: Any) -> tuple[Any, list[Deprecation]]:
    """Actions with old-form placeholders (whole-string ``{{ dotted.path }}``) rewritten as
    ``{{ .dotted.path }}``, and what was rewritten; anything malformed is left for validation."""
    if not isinstance(raw, list):
        return raw, []
    out: list[Any] = []
    found: list[Deprecation] = []
    for i, action in enumerate(raw):
        if isinstance(action, dict) and isinstance(action.get("params"), dict):
            try:
                params, changes = _upgrade_params(i, action["params"])
            except ActionError:
                params, changes = action["params"], []
            if changes:
                action = {**action, "params": params}
                found.extend(changes)
        out.append(action)
    return out, found


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
    params, _ = _upgrade_params(index, params)
    if kind == "log_activity":
        extra = sorted(set(params) - {"type", "metadata"})
        if extra:
            raise ActionError(index, f"params.{extra[0]}", "log_activity takes only type and metadata")
        _name(index, "params.type", params.get("type"))
        if not isinstance(params.get("metadata", {}), dict):
            raise ActionError(index, "params.metadata", "must be an object")
    else:
        queue = _name(index, "params.queue", params.get("queue"))
        # a queue the event chose could turn any task into a runbook request
        if is_templated(queue) or is_old_bare(queue):
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


# Row ids are text (``new_id_text``): they are written into messages and sent to PostgreSQL as
# text, and a ``UUID`` made only to be turned into text again cost three times as much.
@dataclass(slots=True)
class ActivityRow:
    id: str
    type: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class TaskRow:
    id: str
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


def _render(index: int, value: Any, event: dict[str, Any]) -> Any:
    missing: list[str] = []
    rendered = templating.render_value(value, event, missing, typed=True)
    if missing:
        raise ActionError(index, "params", f"{missing[0]} is missing from the event")
    return rendered


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
    return f"{_SOURCE_PREFIX}{playbook_id}"


def caused_by_playbook(event: Envelope) -> uuid.UUID | None:
    """The playbook whose action caused this event, if one did."""
    if event.source.startswith(_SOURCE_PREFIX):
        try:
            return uuid.UUID(event.source[len(_SOURCE_PREFIX) :])
        except ValueError:
            return None
    return None


def plan_actions(
    actions: list[Action],
    *,
    event: Envelope,
    playbook_id: uuid.UUID | str,
    run_id: uuid.UUID | str,
    occurred_at: str,
    cause: Cause | None = None,
) -> Plan:
    """The effects of running ``actions`` for ``event`` (``cause``: the event's, when already read);
    raises ``ActionError`` if one cannot run."""
    if actions and event.depth >= MAX_DEPTH:
        raise ActionError(
            0,
            "(action)",
            f"the event is already {event.depth} steps deep in a causation chain (limit {MAX_DEPTH}); "
            "its actions would exceed it",
        )
    plan = Plan()
    by = cause or messages.cause(event)
    pb, run = str(playbook_id), str(run_id)
    source = _SOURCE_PREFIX + pb
    for i, action in enumerate(actions):
        # Shared, not copied, when static: plans are only ever serialised, never changed.
        params = _render(i, action.params, event.data) if action.templated else action.params
        ident = new_id_text()
        if action.type == "log_activity":
            metadata = dict(params.get("metadata") or {})
            plan.activities.append(ActivityRow(ident, params["type"], metadata))
            data = {"activity_id": ident, "type": params["type"], "metadata": metadata}
            env = messages.caused(
                by,
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
        data = {"task_id": ident, "queue": queue, "params": task_params, "playbook_id": pb, "run_id": run}
        plan.messages.append(
            (
                i,
                TASKS_ENQUEUED,
                messages.caused(by, type="task.enqueued", data=data, source=source, occurred_at=occurred_at, id=ident),
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
            env = messages.caused(by, type="runbook.requested", data=request, source=source, occurred_at=occurred_at)
            plan.messages.append((i, RUNBOOK_REQUESTS, env))
    return plan
