"""Actions (validation, planning, causation), the system templates, and dry-run sample events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from condition_engine.actions import ActionError, plan_actions, source_of, validate_actions
from condition_engine.dryrun import sample_event
from condition_engine.dsl import compile_raw, validate_conditions
from condition_engine.evaluation import CompiledPlaybook, evaluate, run_context, runs_record
from condition_engine.templates import TEMPLATES
from playbooks_contracts import MAX_CAUSATION_DEPTH, Envelope, utcnow
from playbooks_contracts.messages import RunbookRequested
from playbooks_contracts.topics import ACTIVITY_LOGGED, PLAYBOOK_RUNS, RUNBOOK_REQUESTS, TASKS_ENQUEUED
from playbooks_platform.messages import timestamp

PLAYBOOK = uuid.uuid4()
RUN = uuid.uuid4()
NOW = timestamp(utcnow())


def event(data: dict[str, Any], depth: int = 0, source: str = "test") -> Envelope:
    return Envelope(type="activity_event", org_id="org-1", data=data, depth=depth, source=source)


@pytest.mark.parametrize(
    ("raw", "part", "reason"),
    [
        ({"type": "send_email", "params": {}}, "type", "can only log_activity or enqueue_task"),
        ({"type": "log_activity", "params": {}}, "params.type", "non-empty string"),
        ({"type": "log_activity", "params": {"type": "x", "url": "http://"}}, "params.url", "only type and metadata"),
        ({"type": "enqueue_task", "params": {"target": "x"}}, "params.queue", "non-empty string"),
        ({"type": "enqueue_task", "params": {"queue": "runbook"}}, "params", "exactly one of runbook_ref"),
        (
            {"type": "enqueue_task", "params": {"queue": "runbook", "runbook_ref": "a.yaml", "mode": "yolo"}},
            "params.mode",
            "not one of",
        ),
        (
            {"type": "log_activity", "params": {"type": "x", "metadata": {"id": "{{ bad path }}"}}},
            "params.metadata.id",
            "not a dotted path",
        ),
        ({"type": "log_activity", "params": {"type": "x"}, "when": 1}, "when", "unknown key"),
        (
            {"type": "enqueue_task", "params": {"queue": "runbook", "runbook_ref": "a.yaml", "mode": "replay"}},
            "params.scenario",
            "needs the recorded scenario",
        ),
    ],
)
def test_invalid_actions_name_the_index(raw: dict[str, Any], part: str, reason: str) -> None:
    with pytest.raises(ActionError) as err:
        validate_actions([{"type": "log_activity", "params": {"type": "ok"}}, raw])
    assert err.value.index == 1
    assert err.value.part.startswith(part)
    assert reason in err.value.reason


def test_plan_writes_activities_and_tasks_and_carries_causation() -> None:
    actions = validate_actions(
        [
            {"type": "log_activity", "params": {"type": "renewal", "metadata": {"doc": "{{ activity.doc_id }}"}}},
            {"type": "enqueue_task", "params": {"queue": "outreach_sequence", "target": "investor_list"}},
        ]
    )
    ev = event({"activity": {"type": "contract_signed", "doc_id": "d-1"}}, depth=2)
    plan = plan_actions(actions, event=ev, playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW)
    assert [a.type for a in plan.activities] == ["renewal"]
    assert plan.activities[0].metadata == {"doc": "d-1"}
    assert [(t.queue, t.params) for t in plan.tasks] == [("outreach_sequence", {"target": "investor_list"})]
    assert [(i, t) for i, t, _ in plan.messages] == [(0, ACTIVITY_LOGGED), (1, TASKS_ENQUEUED)]
    for _i, topic, msg in plan.messages:
        # the hand-built JSON is exactly what the contracts describe
        env = Envelope.model_validate(msg)
        assert env.model_dump(mode="json") == msg
        topic.data_models[env.type].model_validate(env.data)
        assert env.causation_id == ev.id
        assert env.depth == 3
        assert env.source == source_of(PLAYBOOK)
    assert plan.messages[0][2]["data"]["run_id"] == str(RUN)


def test_a_runbook_task_also_requests_the_runbook_in_dry_run_mode_by_default() -> None:
    actions = validate_actions([{"type": "enqueue_task", "params": {"queue": "runbook", "runbook_ref": "disk.yaml"}}])
    plan = plan_actions(
        actions, event=event({"activity": {"type": "x"}}), playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW
    )
    assert [t for _, t, _ in plan.messages] == [TASKS_ENQUEUED, RUNBOOK_REQUESTS]
    request = RunbookRequested.model_validate(plan.messages[1][2]["data"])
    assert request.runbook_ref == "disk.yaml" and request.mode == "dry-run"
    assert request.requested_by == f"playbook:{PLAYBOOK}"


def test_a_replay_task_carries_its_scenario_to_the_runtime() -> None:
    scenario = {"meta": {"name": "s"}, "steps": [{"match": {"argv": ["df", "-h"]}, "respond": {"exit": 0}}]}
    params = {"queue": "runbook", "runbook_ref": "disk.yaml", "mode": "replay", "scenario": scenario}
    actions = validate_actions([{"type": "enqueue_task", "params": params}])
    plan = plan_actions(
        actions, event=event({"activity": {"type": "x"}}), playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW
    )
    request = RunbookRequested.model_validate(plan.messages[1][2]["data"])
    assert request.mode == "replay" and request.scenario == scenario


def test_a_missing_template_path_and_the_depth_limit_are_action_errors() -> None:
    actions = validate_actions([{"type": "log_activity", "params": {"type": "x", "metadata": {"d": "{{a.b}}"}}}])
    with pytest.raises(ActionError, match=r"a\.b is missing"):
        plan_actions(
            actions, event=event({"activity": {"type": "x"}}), playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW
        )
    deep = event({"a": {"b": 1}}, depth=MAX_CAUSATION_DEPTH)
    with pytest.raises(ActionError, match="causation chain"):
        plan_actions(actions, event=deep, playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW)


def _compiled(conditions: list[Any], actions: list[Any]) -> CompiledPlaybook:
    return CompiledPlaybook(
        PLAYBOOK, "org-1", "pb", "activity_event", 1, compile_raw(conditions), validate_actions(actions)
    )


def test_a_playbook_never_runs_on_its_own_output() -> None:
    pb = _compiled([], [{"type": "log_activity", "params": {"type": "x"}}])
    own = event({"activity": {"type": "x"}}, source=source_of(PLAYBOOK))
    assert evaluate(pb, own, "{}", {}, NOW).status == "skipped"
    other = event({"activity": {"type": "x"}}, source=source_of(uuid.uuid4()), depth=1)
    assert evaluate(pb, other, "{}", {}, NOW).status == "success"


def test_run_outcomes_and_metrics() -> None:
    pb = _compiled(
        [{"field": "activity.type", "op": "starts_with", "value": "deck_"}],
        [{"type": "log_activity", "params": {"type": "deck_outreach_sequence_started"}}],
    )
    deck = {"activity": {"type": "deck_saved", "metadata": {"deckCategory": "seed"}}}
    run = evaluate(pb, event(deck), "{}", run_context("activity_event", deck), NOW)
    assert run.status == "success"
    assert run.metrics == {
        "playbookName": "pb",
        "trigger": "activity_event",
        "actionsCount": 1,
        "category": "decks",
        "activityType": "deck_saved",
        "deckCategory": "seed",
    }
    skipped = evaluate(pb, event({"activity": {"type": "contract_signed"}}), "{}", {}, NOW)
    assert skipped.status == "skipped" and skipped.metrics["failedCondition"]["index"] == 0
    failed = evaluate(pb, event(deck, depth=MAX_CAUSATION_DEPTH), "{}", {}, NOW)
    assert failed.status == "failed" and "causation" in (failed.error or "")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["key"])
def test_templates_are_valid_and_their_sample_events_pass(template: dict[str, Any]) -> None:
    conditions = validate_conditions(template["conditions"])
    validate_actions(template["actions"])
    sample = sample_event(template["trigger"], conditions)
    assert compile_raw(template["conditions"]).first_failure(sample) is None, sample


def test_sample_values_satisfy_ranges_and_exclusions() -> None:
    raw = [
        {"field": "m.x", "op": "gt", "value": 0},
        {"field": "m.x", "op": "lt", "value": 6},
        {"field": "m.x", "op": "not_equals", "value": 3},
        {"field": "m.y", "op": "gte", "value": 0.5},
        {"field": "m.y", "op": "lte", "value": 0.7},
        {"field": "m.s", "op": "starts_with", "value": "deck_"},
        {"field": "m.s", "op": "contains", "value": "vault"},
        {"field": "m.t", "op": "contains", "value": 7},
        {"field": "m.b", "op": "not_equals", "value": True},
    ]
    sample = sample_event("accounts_pack_run", validate_conditions(raw))
    results = compile_raw(raw).evaluate(sample)
    assert all(r.passed for r in results), [r.message for r in results]


def test_run_records_match_the_contract_and_stop_at_the_depth_limit() -> None:
    passing, skipping = _compiled([], []), _compiled([{"field": "activity.type", "op": "equals", "value": "y"}], [])
    for depth in (0, MAX_CAUSATION_DEPTH):
        ev = event({"activity": {"type": "x"}}, depth=depth)
        runs = [evaluate(pb, ev, "{}", {}, NOW) for pb in (passing, skipping)]
        record = runs_record(ev, runs, NOW)
        env = Envelope.model_validate(record)
        assert env.model_dump(mode="json") == record
        assert env.type == "playbook_runs.recorded" and env.causation_id == ev.id
        data = PLAYBOOK_RUNS.data_models[env.type].model_validate(env.data)
        assert data.event_id == ev.id and data.trigger == ev.type
        assert [(str(r.run_id), r.status) for r in data.runs] == [(runs[0].id, "success"), (runs[1].id, "skipped")]
        assert env.depth == min(depth + 1, MAX_CAUSATION_DEPTH)
        # one id per (org, event), whatever the runs: a redelivery could only make the same message
        again = runs_record(ev, [evaluate(pb, ev, "{}", {}, NOW) for pb in (passing, skipping)], NOW)
        other = event({"activity": {"type": "x"}}, depth=depth)
        assert again["id"] == record["id"] != runs_record(other, [evaluate(passing, other, "{}", {}, NOW)], NOW)["id"]


def test_only_params_that_refer_to_the_event_are_rendered_per_run() -> None:
    static, templated = validate_actions(
        [
            {"type": "log_activity", "params": {"type": "t", "metadata": {"tags": ["a", "b"]}}},
            {"type": "enqueue_task", "params": {"queue": "q", "ids": ["x", "{{ activity.doc_id }}"]}},
        ]
    )
    assert not static.templated and templated.templated
    plan = plan_actions(
        [static, templated],
        event=event({"activity": {"type": "x", "doc_id": "d-1"}}),
        playbook_id=PLAYBOOK,
        run_id=RUN,
        occurred_at=NOW,
    )
    assert plan.activities[0].metadata == {"tags": ["a", "b"]}
    assert plan.tasks[0].params == {"ids": ["x", "d-1"]}


def test_a_runbook_task_fills_only_vars_from_the_event_one_value_each() -> None:
    params = {
        "queue": "runbook",
        "runbook_id": "restart-db",
        "runbook_version": "3",
        "mode": "real",
        "vars": {"target": "{{ activity.target }}", "count": "{{ activity.count }}", "fixed": "db"},
    }
    actions = validate_actions([{"type": "enqueue_task", "params": params}])
    ev = event({"activity": {"type": "x", "target": "db-7", "count": 3, "steps": [{"id": "pwn"}]}})
    plan = plan_actions(actions, event=ev, playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW)
    request = RunbookRequested.model_validate(plan.messages[1][2]["data"])
    assert (request.runbook_id, request.runbook_version, request.mode, request.runbook) == (
        "restart-db",
        "3",
        "real",
        None,
    )
    assert request.vars == {"target": "db-7", "count": "3", "fixed": "db"}

    whole = event({"activity": {"type": "x", "target": {"steps": [{"id": "pwn"}]}, "count": 1}})
    with pytest.raises(ActionError, match=r"vars\.target: the event gave dict; a var takes a single value"):
        plan_actions(actions, event=whole, playbook_id=PLAYBOOK, run_id=RUN, occurred_at=NOW)
