"""Step actions and the rules around them, without a database: templates, policy checks, actors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from exception_playbook import events as ev
from exception_playbook.conditions import parse_params
from exception_playbook.packs import DEFAULT_POLICY, DomainPack, EffectivePolicy, PolicyPack, TemplateDoc
from exception_playbook.playbook_runs import ActionCall, Actor, Options, _check_actor, in_progress, run_action
from exception_playbook.templating import render, render_value
from playbooks_platform.errors import Forbidden, Invalid, InvalidTransition
from playbooks_platform.messages import as_envelope

POLICY = PolicyPack(
    status_transitions={"open": ["in_progress"], "in_progress": ["resolved"]},
    tool_allow_list=["ledger.lookup"],
    notification_channels=["email"],
    templates={"t1": TemplateDoc(subject="About ${exception_type}", body="Amount ${amount} for ${exception.domain}")},
    tools={},
)


def exc(**kw: Any) -> Any:
    values = {
        "id": uuid.uuid4(),
        "external_id": None,
        "domain": "Finance",
        "exception_type": "Break",
        "severity": "high",
        "status": "open",
        "owner": None,
        "summary": None,
        "sla_deadline": None,
        "policy_tags": [],
        "attributes": {"amount": 12.5, "nested": {"k": "v"}},
        "current_playbook_id": uuid.uuid4(),
        "current_step": 1,
        "playbook_completed_at": None,
    }
    return SimpleNamespace(**(values | kw))


def step(action_type: str, params: dict[str, Any], **kw: Any) -> Any:
    values = {"step_id": uuid.uuid4(), "step_order": 1, "name": "s", "action_type": action_type, "params": params}
    return SimpleNamespace(**(values | {"risky": False, "skippable": True} | kw))


async def act(
    action_type: str,
    params: dict[str, Any],
    *,
    e: Any = None,
    history: dict[int, Any] | None = None,
    policy: EffectivePolicy | None = None,
    options: Options | None = None,
):
    e = e or exc()
    call = ActionCall(
        tenant_id="t1",
        exc=e,
        step=step(action_type, params),
        policy=policy or EffectivePolicy(POLICY, 1),
        history=history or {},
        actor=Actor("human", "ana"),
        options=options or Options(),
    )
    return await run_action(call, parse_params(action_type, params))


def test_templates_substitute_data_and_nothing_else() -> None:
    context = {"a": 1, "obj": {"x": "y"}, "flag": True}
    assert render("${a} ${obj.x} $a ${flag}", context) == ("1 y 1 true", [])
    text, missing = render("${missing} ${obj.__class__} ${a.b} {{ 7*7 }} $$ ${", context)
    assert text == "${missing} ${obj.__class__} ${a.b} {{ 7*7 }} $ ${"
    assert missing == ["a.b", "missing", "obj.__class__"]
    gaps: list[str] = []
    assert render_value({"k": ["${a}", 3, {"z": "${obj}"}]}, context, gaps) == {"k": ["1", 3, {"z": '{"x":"y"}'}]}


async def test_notify_renders_the_template_and_publishes_a_notification() -> None:
    effect = await act("notify", {"channel": "email", "template_id": "t1", "recipients": ["a@x"]})
    assert effect.result["body"] == "Amount 12.5 for Finance" and effect.result["subject"] == "About Break"
    [(topic, message)] = effect.messages
    envelope = as_envelope(message)
    assert topic.name == "notifications.v1" and envelope.type == "notification.requested"
    assert envelope.data["recipients"] == ["a@x"] and envelope.org_id == "t1"
    with pytest.raises(Forbidden, match="channel 'sms' is not allowed"):
        await act("notify", {"channel": "sms", "template_id": "t1"})
    with pytest.raises(Invalid, match="template 'nope' is in neither"):
        await act("notify", {"channel": "email", "template_id": "nope"})
    domain = DomainPack(templates={"d1": TemplateDoc(body="from the domain: ${nested.k}")})
    effect = await act(
        "notify", {"channel": "email", "template_id": "d1"}, policy=EffectivePolicy(POLICY, 1, domain, 3)
    )
    assert effect.result["body"] == "from the domain: v"


async def test_set_status_follows_the_policy_pack() -> None:
    effect = await act("set_status", {"status": "in_progress"})
    assert effect.values == {"status": "in_progress"}
    with pytest.raises(InvalidTransition, match="does not allow in_progress -> open"):
        await act("set_status", {"status": "open"}, e=exc(status="in_progress"))
    same = await act("set_status", {"status": "open"})
    assert same.values == {} and same.result["unchanged"] is True


async def test_open_to_resolved_needs_a_completed_step_first() -> None:
    lenient = EffectivePolicy(PolicyPack(status_transitions={"open": ["resolved"]}), 1)
    with pytest.raises(InvalidTransition, match="before any step"):
        await act("set_status", {"status": "resolved"}, policy=lenient)
    skipped = {1: SimpleNamespace(event_type=ev.STEP_SKIPPED)}
    with pytest.raises(InvalidTransition, match="before any step"):
        await act("set_status", {"status": "resolved"}, policy=lenient, history=skipped)
    done = {1: SimpleNamespace(event_type=ev.STEP_COMPLETED)}
    effect = await act("set_status", {"status": "resolved"}, policy=lenient, history=done)
    assert effect.values == {"status": "resolved"}


async def test_assign_owner_and_add_comment() -> None:
    assert (await act("assign_owner", {"queue": "desk"})).values == {"owner": "queue:desk"}
    assert (await act("assign_owner", {"user_id": "ana"})).values == {"owner": "user:ana"}
    with pytest.raises(ValueError, match="exactly one of queue or user_id"):
        parse_params("assign_owner", {"queue": "a", "user_id": "b"})
    effect = await act("add_comment", {"text_template": "amount ${amount}, ${nope}"})
    assert effect.result == {"comment": "amount 12.5, ${nope}", "missing_placeholders": ["nope"]}
    assert effect.values == {} and effect.messages == []


async def test_call_tool_is_allow_listed_and_only_logged() -> None:
    effect = await act("call_tool", {"tool_id": "ledger.lookup", "payload_template": {"amt": "${amount}"}})
    assert effect.result["message"] == 'would call tool ledger.lookup with params {"amt":"12.5"}'
    assert effect.result["executed"] is False and effect.messages == []
    with pytest.raises(Forbidden, match="'rm' is not on the tenant's tool allow-list"):
        await act("call_tool", {"tool_id": "rm"})
    with pytest.raises(Forbidden):
        await act("call_tool", {"tool_id": "ledger.lookup"}, policy=EffectivePolicy(DEFAULT_POLICY, 0))


async def test_call_tool_asks_for_a_runbook_dry_run_when_a_runtime_is_configured() -> None:
    domain = DomainPack(tools={"ledger.lookup": {"runbook_ref": "rb-ledger"}})
    policy = EffectivePolicy(POLICY, 1, domain, 1)
    effect = await act("call_tool", {"tool_id": "ledger.lookup"}, policy=policy)
    assert effect.messages == []  # no runtime configured
    effect = await act(
        "call_tool", {"tool_id": "ledger.lookup"}, policy=policy, options=Options(runbook_runtime_url="http://rt")
    )
    [(topic, message)] = effect.messages
    envelope = as_envelope(message)
    assert topic.name == "runbook-requests.v1" and envelope.data["mode"] == "dry-run"
    assert envelope.data["runbook_ref"] == "rb-ledger" and effect.result["runbook_dry_run"]["runtime"] == "http://rt"


@pytest.mark.parametrize("actor_type", ["agent", "system"])
def test_risky_steps_and_tools_need_a_human(actor_type: str) -> None:
    actor = Actor(actor_type, "x")
    with pytest.raises(Forbidden, match="marked risky"):
        _check_actor(step("add_comment", {}, risky=True), actor, "completed")
    with pytest.raises(Forbidden, match="is a call_tool step"):
        _check_actor(step("call_tool", {}), actor, "completed")
    _check_actor(step("add_comment", {}), actor, "completed")
    _check_actor(step("call_tool", {}, risky=True), Actor("human", "ana"), "completed")


def test_in_progress_means_a_step_was_done() -> None:
    assert not in_progress(exc(current_step=1))
    assert in_progress(exc(current_step=2))
    assert in_progress(exc(current_step=None, playbook_completed_at=datetime.now(UTC)))
    assert not in_progress(exc(current_playbook_id=None, current_step=None))


@pytest.mark.parametrize(
    ("action_type", "params", "message"),
    [
        ("notify", {"channel": "email"}, "template_id"),
        ("set_status", {"status": "Not A Status"}, "status"),
        ("call_tool", {"tool_id": "a b"}, "tool_id"),
        ("add_comment", {"text_template": "x", "extra": 1}, "extra"),
        ("launch", {}, "unknown action_type"),
    ],
)
def test_step_params_are_validated(action_type: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_params(action_type, params)
