"""What goal tests share: a runnable playbook (a reviewed runbook the org published) and its recording."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from agent_review import REVIEWER

from playbooks_contracts import Envelope
from playbooks_contracts.messages import RunbookCompiled
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, eventually, produce

GOAL_TEXT = "Stop production RDS orders-db for the weekend"

# Stop an RDS instance for the weekend, snapshot first; an approver confirms the window (four eyes).
RDS_RUNBOOK: dict[str, Any] = {
    "apiVersion": "runbook/v0",
    "meta": {
        "name": "team-rds-weekend-stop",
        "description": "Snapshot then stop an RDS instance for the weekend",
        "version": "1.0.0",
        "vars": {
            "environment": {"allowed": ["production", "staging"], "description": "Which environment"},
            "instance_id": {"description": "RDS instance identifier"},
            "region": {"allowed": ["us-east-1", "eu-west-1"], "description": "AWS region"},
            "snapshot_suffix": {"default": "weekend", "description": "Suffix of the snapshot's name"},
        },
        "governance": {"allowed_commands": ["aws"]},
    },
    "steps": [
        {
            "id": "snapshot",
            "type": "cli",
            "title": "Snapshot the instance",
            "with": {
                "argv": [
                    "aws",
                    "rds",
                    "create-db-snapshot",
                    "--db-instance-identifier",
                    "{{ .instance_id }}",
                    "--db-snapshot-identifier",
                    "{{ .instance_id }}-{{ .snapshot_suffix }}",
                    "--region",
                    "{{ .region }}",
                ]
            },
            "assertions": [{"contains": "creating"}],
        },
        {
            "id": "stop",
            "type": "cli",
            "title": "Stop the instance",
            "with": {
                "argv": [
                    "aws",
                    "rds",
                    "stop-db-instance",
                    "--db-instance-identifier",
                    "{{ .instance_id }}",
                    "--region",
                    "{{ .region }}",
                ]
            },
            "assertions": [{"contains": "stopping"}],
        },
    ],
}


def gated(runbook: dict[str, Any]) -> dict[str, Any]:
    """The runbook with an approval gate before the stop (an approver, never the requester)."""
    out = copy.deepcopy(runbook)
    out["meta"]["name"] = runbook["meta"]["name"] + "-gated"
    gate = {
        "id": "window",
        "type": "manual",
        "title": "Confirm the maintenance window",
        "instructions": "Check nobody uses {{ .instance_id }} this weekend.",
        "required_evidence": [],
        "approvals": {"min": 1, "roles": ["approver"]},
    }
    out["steps"].insert(1, gate)
    return out


def scenario(instance: str, region: str, suffix: str = "weekend") -> dict[str, Any]:
    """What the aws CLI answered when this was recorded (cli-replay format)."""
    snap = [
        "aws",
        "rds",
        "create-db-snapshot",
        "--db-instance-identifier",
        instance,
        "--db-snapshot-identifier",
        f"{instance}-{suffix}",
        "--region",
        region,
    ]
    stop = ["aws", "rds", "stop-db-instance", "--db-instance-identifier", instance, "--region", region]
    return {
        "meta": {"name": "rds-weekend-recorded"},
        "steps": [
            {"match": {"argv": snap}, "respond": {"stdout": '{"DBSnapshot": {"Status": "creating"}}\n'}},
            {"match": {"argv": stop}, "respond": {"stdout": '{"DBInstance": {"DBInstanceStatus": "stopping"}}\n'}},
        ],
    }


async def publish_runnable(
    agent, infra: Infra, org: str, runbook: dict[str, Any], *, runtime_db=None, name: str | None = None
) -> tuple[str, str]:
    """Publish the runbook as the compiler does (recommendation-agent and runbook-runtime both take it), have
    someone other than the author approve it, and wait until the runtime holds it. Returns (id, version)."""
    pid, version = f"team-rds-{uuid.uuid4().hex[:8]}", "1.0.0"
    data = RunbookCompiled(
        playbook_id=pid,
        version=version,
        name=name or "Stop RDS instance for the weekend",
        description="Snapshot an Amazon RDS database instance, then stop it for the weekend to save cost",
        runbook=runbook,
        source_name="rds-weekend.md",
    )
    compiled = Envelope(type="runbook.compiled", org_id=org, source="http:ana", data=data.model_dump(mode="json"))
    await produce(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, [compiled.model_dump(mode="json")], key=org)
    path = f"/api/playbook/metadata/{org}/{pid}/{version}"

    async def published() -> bool:
        return (await agent.get(path, headers=infra.auth(org))).status_code == 200

    await eventually(published, timeout=30, interval=0.2)
    r = await agent.post(f"{path}/status", json={"status": "approved"}, headers=infra.auth(org, **REVIEWER))
    assert r.status_code == 200, r.text
    if runtime_db is not None:
        from playbooks_platform.errors import NotFound
        from runbook_runtime.published import get_published

        async def stored() -> bool:
            async with runtime_db.tenant_transaction(org) as session:
                try:
                    return bool(await get_published(session=session, org_id=org, runbook_id=pid, version=version))
                except NotFound:
                    return False

        await eventually(stored, timeout=30, interval=0.2)
    return pid, version
