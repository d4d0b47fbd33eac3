"""The one template language under attack: values are never rendered twice, paths reach data only
(no attributes, no dunders), and templates over the bounds are refused with a clear 422, quickly,
without stalling the service's event loop."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from healthz_probe import HEALTHZ_BOUND_S, healthz_watch  # tests/hostile is on sys.path (no __init__.py)

from condition_engine.actions import plan_actions, validate_actions
from exception_playbook.templating import render as step_render
from playbooks_contracts import Envelope
from playbooks_contracts.runbook import Governance
from playbooks_contracts.templating import MISSING, lookup, render, render_value
from playbooks_dev.testing import Infra, running_service
from runbook_runtime.governance import render as runbook_render

SECRET = "s3cr3t"


@dataclass
class Thing:
    name: str = "thing"


def test_a_value_holding_a_placeholder_is_never_rendered_again() -> None:
    data = {"title": '{{ .secret }} ${secret} $secret {{ "{{" }}', "secret": SECRET}
    assert render("t={{ .title }}", data)[0] == "t=" + data["title"]
    assert step_render("t={{ .title }}", data)[0] == "t=" + data["title"]
    assert step_render("t=${title}", data)[0] == "t=" + data["title"]  # the old form too
    assert render_value({"x": "{{ .title }}"}, data, [], typed=True) == {"x": data["title"]}
    assert runbook_render("echo {{ .title }}", {"title": "{{ .secret }}", "secret": SECRET}, Governance()) == (
        "echo {{ .secret }}"
    )

    actions = validate_actions(
        [
            {
                "type": "log_activity",
                "params": {"type": "t", "metadata": {"a": "{{ .activity.title }}", "b": "x {{ .activity.title }}"}},
            }
        ]
    )
    event = Envelope(
        type="activity_event", org_id="o", data={"activity": {"title": "{{ .activity.secret }}", "secret": SECRET}}
    )
    plan = plan_actions(
        actions, event=event, playbook_id=uuid.uuid4(), run_id=uuid.uuid4(), occurred_at="2026-01-01T00:00:00Z"
    )
    assert plan.activities[0].metadata == {"a": "{{ .activity.secret }}", "b": "x {{ .activity.secret }}"}


@pytest.mark.parametrize(
    "path",
    [
        "__class__",
        "obj.__class__.__mro__",
        "obj.name.__len__",
        "fn.__globals__",
        "s.__class__.__base__.__subclasses__",
        "thing.name",
    ],
)
def test_paths_reach_data_only(path: str) -> None:
    data = {"obj": {"k": "v"}, "fn": render, "s": "text", "thing": Thing()}
    assert lookup(data, path) is MISSING
    text, missing = render("{{ ." + path + " }}", data)
    assert text == "{{ ." + path + " }}" and missing == [path]
    assert step_render("${" + path + "}", data)[0] == "${" + path + "}"


async def _refused(client: httpx.AsyncClient, infra: Infra, org: str, path: str, body: dict, reason: str) -> None:
    async with healthz_watch(client) as worst:
        started = time.perf_counter()
        r = await client.post(path, json=body, headers=infra.auth(org))
        elapsed = time.perf_counter() - started
    print(f"{path}: {r.status_code} in {elapsed * 1000:.0f} ms, worst /healthz {worst[0] * 1000:.0f} ms")
    assert r.status_code == 422, r.text[:300]
    assert reason in r.text, r.text[:300]
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms"
    assert elapsed < 5.0, f"refused in {elapsed:.2f} s"  # a busy 2-core machine, not the parse (ms)


HUGE = {
    "many": ("{{ .a }}" * 1001, "more than 1000 placeholders"),
    "long": ("{{ ." + "a" * 10_000 + " }}", "over the limit of 256"),
    "deep": ("{{ ." + ".".join(["a"] * 100) + " }}", "segments"),
}


@pytest.fixture(scope="module")
async def engine(infra: Infra):
    async with running_service("condition-engine", infra) as (client, _runtime, _app):
        yield client


@pytest.fixture(scope="module")
async def steps(infra: Infra):
    async with running_service("exception-playbook", infra) as (client, _runtime, _app):
        yield client


@pytest.mark.parametrize("kind", sorted(HUGE))
async def test_condition_engine_refuses_templates_over_the_bounds(engine, infra: Infra, org: str, kind: str) -> None:
    text, reason = HUGE[kind]
    body = {
        "name": "huge",
        "trigger": "activity_event",
        "conditions": [{"field": "activity.type", "op": "equals", "value": "x"}],
        "actions": [{"type": "log_activity", "params": {"type": "t", "metadata": {"x": text}}}],
    }
    await _refused(engine, infra, org, "/api/playbooks", body, reason)
    # 100k placeholders are over the size of an action's params before any is parsed
    body["actions"][0]["params"]["metadata"]["x"] = "{{ .a }}" * 100_000
    await _refused(engine, infra, org, "/api/playbooks", body, "over the limit")


@pytest.mark.parametrize("kind", [*sorted(HUGE), "100k"])
async def test_exception_playbook_refuses_templates_over_the_bounds(steps, infra: Infra, org: str, kind: str) -> None:
    text, reason = HUGE.get(kind, ("{{ .a }}" * 100_000, "more than 1000 placeholders"))
    body = {
        "name": "huge",
        "conditions": {"match": {"domain": "Finance"}},
        "steps": [
            {"name": "t", "action_type": "call_tool", "params": {"tool_id": "t", "payload_template": {"x": text}}}
        ],
    }
    await _refused(steps, infra, org, "/api/playbooks", body, reason)
    # the old form, converted on input, is held to the same bounds
    body["steps"][0]["params"]["payload_template"]["x"] = "${a}" * 100_000
    await _refused(steps, infra, org, "/api/playbooks", body, "more than 1000 placeholders")
