"""A secret var and a value the runbook redacts never come back, whichever door they try.

A canary is planted as a secret var (a default and a value given by the request) and a redaction
rule covers ``password=...``; the run puts both into argv, stdin, stdout, captures, an error
string with raw argv and manual evidence. Then every sink is grepped: the run body (and the
list), every snapshot, the trace, verify, the dry-run plan, the rows the service stores for
them, the step-results and executions messages on the broker, the problem bodies, the logs, and
the scenario `runbook record` writes with its run folder.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_STEP_RESULTS
from playbooks_dev.testing import Infra, collect, running_service
from runbook_runtime.models import snapshots, step_results, trace_events

CANARY = "canary-" + uuid.uuid4().hex  # a secret var's default
CANARY2 = "given-" + uuid.uuid4().hex  # a secret var's value from the run request
PASSWORD = "hunter2"


def runbook(*, fail: bool = True) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "key", "type": "cli", "with": {"argv": ["echo", "{{ .api_key }}"]}, "capture": {"echoed": "stdout"}},
        {"id": "login", "type": "cli", "with": {"argv": ["printf", f"password={PASSWORD} {{{{ .token }}}}"]}},
        {
            "id": "pipe",
            "type": "cli",
            "with": {"argv": ["cat"], "stdin": f"password={PASSWORD} {{{{ .api_key }}}} {{{{ .token }}}}"},
            "capture": {"piped": "stdout"},
        },
        {
            "id": "note",
            "type": "manual",
            "title": "Write down what you saw",
            "required_evidence": [{"kind": "text", "name": "seen"}],
            "approvals": {"min": 1},
        },
    ]
    if fail:
        # argv[0] made of the secret: the governance error quotes the raw program name
        steps.append({"id": "boom", "type": "cli", "with": {"argv": ["{{ .api_key }}-{{ .token }}", "x"]}})
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "leaky",
            "vars": {
                "api_key": {"default": CANARY, "secret": True},
                "token": {"secret": True},
                "plain": "visible",
            },
            "governance": {
                "allowed_commands": ["echo", "printf", "cat"],
                "redact": [{"pattern": "password=\\S+", "replace": "password=<redacted>"}],
            },
        },
        "steps": steps,
    }


def leaks(text: str) -> list[str]:
    return [s for s in (CANARY, CANARY2, PASSWORD) if s in text]


@pytest.fixture
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo", "printf", "cat"]) as (
        client,
        runtime,
        _,
    ):
        yield client, runtime


async def test_no_sink_of_a_service_run_gives_a_secret_back(
    rt, infra: Infra, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, runtime = rt
    runner = infra.auth(org, user_id="rita", roles=["runner"])
    body = {"runbook": runbook(), "mode": "real", "vars": {"token": CANARY2}, "start": True}
    r = await client.post("/v1/runs", json=body, headers=runner)
    assert r.status_code == 201, r.text
    run = r.json()
    rid = run["run_id"]
    # the run did use the secrets: the capture shows the mask where the value was
    assert run["status"] == "waiting" and run["captures"]["echoed"] == "<secret>"
    assert run["vars"] == {"api_key": "<secret>", "token": "<secret>", "plain": "visible"}
    assert "password=<redacted>" in json.dumps(run["history"])
    problems: list[str] = []
    # evidence typed by a person goes through the same redaction; a refused name's problem too
    ev = await client.post(
        f"/v1/runs/{rid}/evidence", json={"name": "seen", "value": f"password={PASSWORD}"}, headers=runner
    )
    assert ev.status_code == 200, ev.text
    bad = await client.post(f"/v1/runs/{rid}/evidence", json={"name": "nope", "value": CANARY}, headers=runner)
    assert bad.status_code == 422
    problems.append(bad.text)
    approver = infra.auth(org, user_id="alice", roles=["approver"])
    assert (await client.post(f"/v1/runs/{rid}/approvals", json={}, headers=approver)).status_code == 200
    done = await client.post(f"/v1/runs/{rid}/continue", headers=runner)
    assert done.status_code == 200, done.text
    failed = done.json()["run"]
    assert failed["status"] == "failed" and "not found" in failed["history"][-1]["error"]
    assert "<secret>-<secret>" in failed["history"][-1]["error"]  # the raw argv, masked

    sinks: dict[str, str] = {"create": r.text, "continue": done.text, "problems": "\n".join(problems)}
    sinks["get"] = (await client.get(f"/v1/runs/{rid}", headers=runner)).text
    sinks["list"] = (await client.get("/v1/runs", headers=runner)).text
    sinks["trace"] = (await client.get(f"/v1/runs/{rid}/trace", headers=runner)).text
    sinks["verify"] = (await client.get(f"/v1/runs/{rid}/verify", headers=runner)).text
    names = (await client.get(f"/v1/runs/{rid}/snapshots", headers=runner)).json()
    assert len(names) >= 5
    for name in names:
        sinks[f"snapshot {name}"] = (await client.get(f"/v1/runs/{rid}/snapshots/{name}", headers=runner)).text
    plan = await client.post("/v1/runs", json=body | {"mode": "dry-run", "start": False}, headers=runner)
    assert plan.status_code == 201 and plan.json()["plan"][0]["argv"] == ["echo", "<secret>"]
    sinks["dry-run plan"] = plan.text
    async with runtime.database.tenant_transaction(org) as session:
        for table in (trace_events, snapshots, step_results):
            rows = (await session.execute(sa.select(table).where(table.c.org_id == org))).mappings().all()
            assert rows, table.name
            sinks[f"table {table.name}"] = json.dumps([dict(r) for r in rows], default=str)
    results = await collect(
        infra.kafka_bootstrap, RUNBOOK_STEP_RESULTS.name, where=lambda m: m.value["data"]["run_id"] == rid, count=5
    )
    assert [m.value["data"]["step_id"] for m in results] == ["key", "login", "pipe", "note", "boom"]
    sinks["step-results messages"] = json.dumps([m.value for m in results])
    [executed] = await collect(
        infra.kafka_bootstrap, PLAYBOOK_EXECUTIONS.name, where=lambda m: m.value["data"]["run_id"] == rid
    )
    assert executed.value["data"]["success"] is False and "<secret>" in executed.value["data"]["error"]
    sinks["executions message"] = json.dumps(executed.value)
    sinks["logs"] = caplog.text

    found = {where: leaks(text) for where, text in sinks.items() if leaks(text)}
    assert found == {}, f"secrets came back through: {found}"


RECORD = [sys.executable, "-m", "runbook_runtime.cli"]


def test_the_recorded_scenario_and_the_local_run_folder_hold_no_secret(tmp_path: Path) -> None:
    doc = runbook(fail=False)
    doc["steps"] = doc["steps"][:3]  # record runs to the end without a person
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "scenario.yaml"
    done = subprocess.run(
        [*RECORD, "record", str(path), "--out", str(out), "--var", f"token={CANARY2}", "--root", str(tmp_path / "rb")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    scenario = yaml.safe_load(out.read_text())
    assert [s["match"]["argv"] for s in scenario["steps"]] == [
        ["echo", "{{ .any }}"],
        ["printf", "{{ .any }}"],
        ["cat"],
    ]
    assert "stdin" not in scenario["steps"][2]["match"]  # stdin held secrets: not kept, matches any
    assert scenario["meta"]["vars"] == {"api_key": "<secret>", "token": "<secret>", "plain": "visible"}
    plan = subprocess.run(
        [*RECORD, "exec", str(path), "--mode", "dry-run", "--var", f"token={CANARY2}", "--root", str(tmp_path / "rb")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert plan.returncode == 0 and "<secret>" in plan.stdout, plan.stdout + plan.stderr
    texts = {"cli output": done.stdout + done.stderr, "dry-run plan": plan.stdout, "scenario": out.read_text()}
    for file in sorted((tmp_path / "rb").rglob("*")):
        if file.is_file():
            texts[str(file.relative_to(tmp_path))] = file.read_text()
    assert any("snapshots" in k for k in texts) and any("trace.jsonl" in k for k in texts)
    found = {where: leaks(text) for where, text in texts.items() if leaks(text)}
    assert found == {}, f"secrets came back through: {found}"
