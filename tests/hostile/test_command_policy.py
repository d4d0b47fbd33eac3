"""A hostile runbook author against the command policy (issue 18, part 2), with harmless commands only.

Every case is decided the same way by every place that judges a command: a real run, a replay, a
dry-run plan, ``runbook validate --policy`` and, in the service, real/replay/dry-run runs and
``POST /v1/runbooks:validate`` under the org's policy set over ``PUT /v1/policy``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.runbook import parse_runbook
from playbooks_dev.testing import Infra, running_service
from runbook_runtime.engine import Engine, NullRecorder, new_state
from runbook_runtime.scenario import Scenario
from runbook_runtime.session import policy_layers
from runbook_runtime.store import RunFolder

CANARY = "canary-7f3a"
# what the operator lets real runs use at all in the service under test: the cap is not what is tested here
CAP = ["echo", "id", "cat", "env", "xargs", "find", "timeout", "sh", "python3", "awk", "ssh", "kubectl", "git"]


@dataclass
class Case:
    name: str
    argv: list[str]
    allowed: list[str]  # the runbook's own allow-list
    org: dict[str, Any] | None  # the org's policy (a policy file locally), None: none set
    ok: bool
    vars: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    service: bool = True  # cases needing files made by the test run only locally


LAUNCHERS = ["env", "xargs", "find", "timeout"]


def grant(launcher: str, *allowed: str) -> dict[str, Any]:
    return {"commands": {"allowed_commands": [launcher, *allowed], "commands": {launcher: {"launcher": True}}}}


def cases(secret: str, bin_dir: str) -> list[Case]:
    kubectl = f"{bin_dir}/kubectl"
    kubectl_rules = {
        "commands": {
            "allowed_commands": [kubectl],
            "commands": {
                "kubectl": {"allow": ["get", "describe", "logs", "top"], "deny_flags": ["--kubeconfig", "--token"]}
            },
        }
    }
    return [
        # only env, xargs, find and timeout allowed: none of them may run what they are given
        Case("env id", ["env", "id"], LAUNCHERS, None, False),
        Case("xargs id", ["xargs", "id"], LAUNCHERS, None, False),
        Case("find -exec cat", ["find", secret, "-exec", "cat", "{}", ";"], LAUNCHERS, None, False),
        Case("timeout id", ["timeout", "5", "id"], LAUNCHERS, None, False),
        # the runbook allowing the launched program too does not make a launcher
        Case("env id, id allowed", ["env", "id"], [*LAUNCHERS, "id"], None, False),
        # granted by the org, and what they launch allowed everywhere: they run
        Case("granted env id", ["env", "id"], ["env", "id"], grant("env", "id"), True),
        Case("granted timeout id", ["timeout", "5", "id"], ["timeout", "id"], grant("timeout", "id"), True),
        Case("granted find", ["find", secret, "-exec", "cat", "{}", ";"], ["find", "cat"], grant("find", "cat"), True),
        # granted, but what they launch is not allowed (by the org, or by the runbook)
        Case("granted env, id not allowed", ["env", "id"], ["env", "id"], grant("env"), False),
        Case("granted env, runbook lacks id", ["env", "id"], ["env"], grant("env", "id"), False),
        Case("granted env, launches sh", ["env", "sh", "-c", "id"], ["env", "sh", "id"], grant("env", "id"), False),
        # a runbook cannot grant itself a launcher
        Case("runbook grants env", ["env", "id"], ["env", "id"], None, False, rules={"env": {"launcher": True}}),
        # shells, interpreters, awk, remote commands, git's -c
        Case("sh -c", ["sh", "-c", "id"], ["sh", "id"], None, False),
        Case("python -c", ["python3", "-c", "import os; os.system('id')"], ["python3"], None, False),
        Case("awk system", ["awk", 'BEGIN{system("id")}'], ["awk", "id"], None, False),
        Case("granted awk system", ["awk", 'BEGIN{system("id")}'], ["awk", "id"], grant("awk", "id"), False),
        Case("ssh host id", ["ssh", "host.invalid", "id"], ["ssh", "id"], None, False),
        Case("kubectl exec", ["kubectl", "exec", "pod", "--", "id"], ["kubectl", "id"], None, False),
        Case("git -c pager", ["git", "-c", "core.pager=id", "log"], ["git", "id"], None, False),
        # template values never become options unless the var says so
        Case("template flag", ["echo", "{{ .ns }}"], ["echo"], None, False, vars={"ns": "--kubeconfig=/x"}),
        Case(
            "declared flag",
            ["echo", "{{ .ns }}"],
            ["echo"],
            None,
            True,
            vars={"ns": {"default": "--kubeconfig=/x", "flag": True}},
        ),
        # subcommand and flag rules (a stand-in kubectl that only prints its arguments)
        Case("kubectl get", [kubectl, "get", "pods"], [kubectl], kubectl_rules, True, service=False),
        Case("kubectl delete", [kubectl, "delete", "pod", "x"], [kubectl], kubectl_rules, False, service=False),
        Case(
            "kubectl --kubeconfig",
            [kubectl, "get", "pods", "--kubeconfig=/x"],
            [kubectl],
            kubectl_rules,
            False,
            service=False,
        ),
        # a multi-call binary reached through a symlink named ls: judged as what it is
        Case(
            "multicall ls sh -c id", [f"{bin_dir}/ls", "sh", "-c", "id"], [f"{bin_dir}/ls"], None, False, service=False
        ),
        Case(
            "granted multicall runs its ls applet",
            [f"{bin_dir}/ls", "sh", "-c", "id"],
            [f"{bin_dir}/ls", "ls"],
            {"commands": {"allowed_commands": [f"{bin_dir}/ls", "ls"], "commands": {"busybox": {"launcher": True}}}},
            True,
            service=False,
        ),
    ]


MULTICALL_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* a busybox-like multi-call binary: the applet is the name it is called by, or its first argument */
int main(int argc, char **argv) {
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (strcmp(name, "busybox") == 0 && argc > 1) { argv++; argc--; name = argv[0]; }
    if (strcmp(name, "sh") == 0) { execv("/bin/sh", argv); return 127; }
    printf("applet=%s args=%d\n", name, argc - 1);
    return 0;
}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("hostile-policy")
    secret = root / "secret.txt"
    secret.write_text(CANARY + "\n")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text('#!/bin/sh\necho "kubectl $*"\n')
    kubectl.chmod(0o755)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is not None:
        (root / "multicall.c").write_text(MULTICALL_C)
        subprocess.run([compiler, "-o", str(bin_dir / "busybox"), str(root / "multicall.c")], check=True)
        (bin_dir / "ls").symlink_to(bin_dir / "busybox")
    return str(secret), str(bin_dir)


def runbook_doc(case: Case) -> dict[str, Any]:
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": f"hostile {case.name}",
            "vars": case.vars,
            "governance": {"allowed_commands": case.allowed, "commands": case.rules},
        },
        "steps": [{"id": "s", "type": "cli", "with": {"argv": case.argv}, "capture": {"out": "stdout"}}],
    }


def scenario_for(argv: list[str]) -> dict[str, Any]:
    # the scenario would answer anything the runbook asks: only the policy stands in the way
    return {
        "meta": {"name": "any"},
        "steps": [{"match": {"argv": ["{{ .any }}"] * len(argv)}, "respond": {"stdout": "replayed"}}],
    }


def _engine(case: Case, mode: str, tmp: Path) -> Engine:
    doc = runbook_doc(case)
    rb = parse_runbook(doc)
    org = OrgPolicy.model_validate(case.org) if case.org is not None else None
    state = new_state(rb, run_id="r", runbook_path="rb.yaml", digest="d", mode=mode, actor="t", env={})  # type: ignore[arg-type]
    layers = policy_layers(rb, org)
    if mode == "replay":
        scenario = Scenario.model_validate(scenario_for(case.argv))
        return Engine(rb, state, RunFolder(tmp, f"r-{uuid.uuid4().hex[:6]}").create(), scenario=scenario, layers=layers)
    if mode == "dry-run":
        return Engine(rb, state, NullRecorder(), runner=lambda *a: pytest.fail("dry-run executed"), layers=layers)
    return Engine(rb, state, RunFolder(tmp, f"r-{uuid.uuid4().hex[:6]}").create(), layers=layers, sleep=lambda s: None)


def local(surface: str, case: Case, tmp: Path) -> tuple[bool, str]:
    """(allowed, what came out) on one local surface."""
    if surface == "runbook validate":
        rb_path, pol_path = tmp / "rb.yaml", tmp / "policy.yaml"
        rb_path.write_text(yaml.safe_dump(runbook_doc(case)))
        args = [sys.executable, "-m", "runbook_runtime.cli", "validate", str(rb_path)]
        if case.org is not None:
            pol_path.write_text(json.dumps(case.org))
            args += ["--policy", str(pol_path)]
        done = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy(), timeout=60)
        return done.returncode == 0, done.stdout + done.stderr
    mode = {"real": "real", "replay": "replay", "plan": "dry-run"}[surface]
    engine = _engine(case, mode, tmp)
    if surface == "plan":
        verdict = engine.plan()[0]["verdict"]
        return verdict == "allowed", verdict
    result = engine.next()
    assert result is not None
    return result.error_kind != "governance", (result.error or "") + engine.state.captures.get("out", "")


SECRET, BIN = "/SECRET", "/BIN"  # placeholders for ids; the fixture gives the real paths
ALL = cases(SECRET, BIN)


@pytest.mark.parametrize("surface", ["real", "replay", "plan", "runbook validate"])
@pytest.mark.parametrize("index", range(len(ALL)), ids=[c.name for c in ALL])
def test_every_local_surface_decides_the_same(world, surface: str, index: int, tmp_path: Path) -> None:
    secret, bin_dir = world
    case = cases(secret, bin_dir)[index]
    if "multicall" in case.name and not Path(bin_dir, "busybox").exists():
        pytest.skip("no C compiler to build the multi-call stand-in")
    allowed, out = local(surface, case, tmp_path)
    assert allowed is case.ok, f"{surface}: {case.name}: {out}"
    if surface == "real" and not case.ok:
        assert "uid=" not in out and CANARY not in out  # nothing it was refused ran
    if surface == "real" and case.ok and case.name.startswith("granted env"):
        assert "uid=" in out
    if surface == "real" and case.name == "granted find":
        assert CANARY in out
    if surface == "real" and case.name == "granted multicall runs its ls applet":
        # argv[0] is passed as written: the binary runs as ls, never as the shell named in argv[1]
        assert "applet=ls" in out and "uid=" not in out


# -- the service: the org's policy over the API --------------------------------------------------


@pytest.fixture(scope="module")
async def rt(infra: Infra):
    async with running_service("runbook-runtime", infra, real_mode_commands=CAP) as (client, runtime, _app):
        yield client, runtime


async def service(surface: str, client: Any, infra: Infra, org: str, case: Case) -> tuple[bool, str]:
    doc = runbook_doc(case)
    auth = infra.auth(org, roles=["author", "operator", "runner"])
    if surface == "validate endpoint":
        body = (await client.post("/v1/runbooks:validate", json=doc, headers=auth)).json()
        return body["valid"], json.dumps(body["problems"])
    mode = {"real run": "real", "replay run": "replay", "dry-run": "dry-run"}[surface]
    request: dict[str, Any] = {"runbook": doc, "mode": mode, "start": True}
    if mode == "replay":
        request["scenario"] = scenario_for(case.argv)
    r = await client.post("/v1/runs", json=request, headers=auth)
    assert r.status_code in (200, 201), r.text
    run = r.json()
    if mode == "dry-run":
        verdict = run["plan"][0]["verdict"]
        return verdict == "allowed", verdict
    last = run["history"][-1]
    return last.get("error_kind") != "governance", json.dumps(last)


SERVICE_CASES = [c for c in ALL if c.service]


@pytest.mark.parametrize("surface", ["real run", "replay run", "dry-run", "validate endpoint"])
@pytest.mark.parametrize("index", range(len(SERVICE_CASES)), ids=[c.name for c in SERVICE_CASES])
async def test_every_service_surface_decides_the_same(rt, infra: Infra, world, surface: str, index: int) -> None:
    client, _ = rt
    secret, bin_dir = world
    case = [c for c in cases(secret, bin_dir) if c.service][index]
    org = f"org-{uuid.uuid4().hex[:12]}"
    if case.org is not None:
        put = await client.put("/v1/policy", json=case.org, headers=infra.auth(org, roles=["admin"]))
        assert put.status_code == 200, put.text
    allowed, out = await service(surface, client, infra, org, case)
    assert allowed is case.ok, f"{surface}: {case.name}: {out}"
    if surface == "real run" and not case.ok:
        assert "uid=" not in out and CANARY not in out


async def test_only_admins_set_the_org_policy_and_runbooks_only_narrow_it(rt, infra: Infra, org: str) -> None:
    client, _ = rt
    admin, author = infra.auth(org, roles=["admin"]), infra.auth(org, roles=["author", "operator", "runner"])
    narrow = {"commands": {"allowed_commands": ["echo"]}}
    denied = await client.put("/v1/policy", json=narrow, headers=author)
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/policy", headers=author)).json()["commands"] is None

    case = Case("id", ["id"], ["echo", "id"], None, True)
    assert (await service("real run", client, infra, org, case))[0] is True  # no org policy: the cap and runbook
    assert (await client.put("/v1/policy", json=narrow, headers=admin)).status_code == 200
    assert (await client.get("/v1/policy", headers=author)).json()["commands"]["allowed_commands"] == ["echo"]
    allowed, out = await service("real run", client, infra, org, case)
    assert not allowed and "not allowed by the org policy (allowed: echo)" in out
    # a runbook cannot widen: its own rules grant nothing the org did not
    widen = Case("widen", ["env", "id"], ["env", "id", "echo"], None, False, rules={"env": {"launcher": True}})
    for surface in ("real run", "validate endpoint"):
        allowed, out = await service(surface, client, infra, org, widen)
        assert not allowed and "not allowed by the org policy" in out
    # another org is untouched by this org's policy
    other = f"org-{uuid.uuid4().hex[:12]}"
    assert (await service("real run", client, infra, other, case))[0] is True


def test_the_cli_refuses_a_broken_policy_file(tmp_path: Path) -> None:
    rb = tmp_path / "rb.yaml"
    rb.write_text(yaml.safe_dump(runbook_doc(Case("x", ["echo", "hi"], ["echo"], None, True))))
    bad = tmp_path / "policy.yaml"
    bad.write_text(textwrap.dedent("commands:\n  allowed_commands: echo; rm\n"))
    args = [sys.executable, "-m", "runbook_runtime.cli", "validate", str(rb), "--policy", str(bad)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid policy" in done.stderr
