"""The command policy's decision over a whole argv, with a fake file system (the module does no I/O)."""

from __future__ import annotations

import pytest

from playbooks_contracts.command_policy import (
    CommandPolicy,
    Layer,
    Resolved,
    flag_hit,
    layers_for,
    render_argv,
    simple_command,
)
from playbooks_contracts.policy import CommandSet, OrgPolicy
from playbooks_contracts.runbook import Governance

# a tiny file system: name -> (path found on PATH, real binary)
FS = {
    "id": "/usr/bin/id",
    "cat": "/usr/bin/cat",
    "env": "/usr/bin/env",
    "timeout": "/usr/bin/timeout",
    "xargs": "/usr/bin/xargs",
    "find": "/usr/bin/find",
    "echo": "/usr/bin/echo",
    "kubectl": "/usr/local/bin/kubectl",
    "kubectl-evil": "/usr/local/bin/kubectl-evil",
    "sh": "/usr/bin/dash",
    "python3": "/usr/bin/python3.11",
    "awk": "/usr/bin/mawk",
    "ls": "/usr/bin/busybox",  # a symlink ls -> busybox
    "busybox": "/usr/bin/busybox",
    "reboot": "/usr/bin/systemctl",
    "systemctl": "/usr/bin/systemctl",
    "rm": "/usr/bin/rm",
}


def resolve(program: str) -> Resolved | None:
    name = program.rsplit("/", 1)[-1]
    if name not in FS or ("/" in program and program != f"/usr/bin/{name}" and program != FS[name]):
        return None
    found = program if "/" in program else f"/usr/bin/{name}"
    return Resolved(found, FS[name])


def policy(allowed: list[str], *, org: dict | None = None, rules: dict | None = None, real: bool = True):
    governance = Governance(allowed_commands=allowed, commands=rules or {})
    org_policy = OrgPolicy(commands=CommandSet.model_validate(org)) if org is not None else None
    layers = layers_for(governance, org=org_policy)
    if not real:
        return CommandPolicy(layers)
    return CommandPolicy(layers, resolve_program=resolve, resolve_entry=resolve, require_found=True)


LAUNCHERS_ONLY = ["env", "xargs", "find", "timeout"]


@pytest.mark.parametrize(
    "argv",
    [
        ["env", "id"],
        ["xargs", "id"],
        ["find", "/etc/hostname", "-exec", "cat", "{}", ";"],
        ["timeout", "5", "id"],
    ],
)
def test_a_launcher_allowed_by_name_still_cannot_launch(argv: list[str]) -> None:
    # the runbook allows the launcher and even the launched program: neither grants launching
    decision = policy([*LAUNCHERS_ONLY, "id", "cat"]).decide(argv)
    assert not decision.allowed
    assert any("runs other programs" in p and "launcher" in p for p in decision.problems)


@pytest.mark.parametrize(
    ("argv", "launcher"),
    [
        (["env", "id"], "env"),
        (["env", "-i", "id"], "env"),
        (["xargs", "-0", "id"], "xargs"),
        (["find", "/etc/hostname", "-exec", "cat", "{}", ";"], "find"),
        (["timeout", "-s", "KILL", "5", "id"], "timeout"),
    ],
)
def test_an_org_granted_launcher_runs_only_what_the_policy_allows(argv: list[str], launcher: str) -> None:
    org = {"allowed_commands": [*LAUNCHERS_ONLY, "id", "cat"], "commands": {launcher: {"launcher": True}}}
    assert policy([*LAUNCHERS_ONLY, "id", "cat"], org=org).decide(argv).allowed
    # what it launches must be allowed by every layer
    narrowed = policy(LAUNCHERS_ONLY, org=org).decide(argv)
    assert not narrowed.allowed and any("not allowed by the runbook" in p for p in narrowed.problems)


def test_a_runbook_cannot_grant_a_launcher_and_can_refuse_one() -> None:
    rules = {"env": {"launcher": True}}
    assert not policy(["env", "id"], rules=rules).decide(["env", "id"]).allowed
    org = {"allowed_commands": ["env", "id"], "commands": {"env": {"launcher": True}}}
    assert policy(["env", "id"], org=org).decide(["env", "id"]).allowed
    assert not policy(["env", "id"], org=org, rules={"env": {"launcher": False}}).decide(["env", "id"]).allowed


def test_a_multi_call_binary_is_judged_as_what_it_really_is() -> None:
    # ls is busybox here: judged by the name written AND by the binary, so it is a launcher
    decision = policy(["ls", "sh"]).decide(["ls", "sh", "-c", "id"])
    assert not decision.allowed and any("busybox" in p or "launcher" in p for p in decision.problems)
    assert not policy(["busybox", "sh"]).decide(["busybox", "sh", "-c", "id"]).allowed
    # an alias of an allowed multi-call binary does what its name says: it must be allowed by that name
    refused = policy(["systemctl"]).decide(["reboot"])
    assert not refused.allowed and "not allowed" in refused.reason()
    assert policy(["systemctl"]).decide(["systemctl", "status"]).executable == "/usr/bin/systemctl"


def test_launched_program_under_a_granted_multicall_is_its_applet() -> None:
    org = {"allowed_commands": ["ls", "busybox"], "commands": {"busybox": {"launcher": True}}}
    # called as ls, busybox runs its ls applet with these words as arguments
    assert policy(["ls", "busybox"], org=org).decide(["ls", "sh", "-c", "id"]).allowed
    assert not policy(["ls", "busybox"], org=org).decide(["busybox", "sh", "-c", "id"]).allowed


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "id"],
        ["sh", "-c", "id; cat /etc/shadow"],
        ["sh", "script.sh"],
        ["sh"],
        ["python3", "-c", "import os; os.system('id')"],
        ["python3", "script.py"],
        ["awk", 'BEGIN{system("id")}'],
        ["awk", 'BEGIN{print | "id"}'],
        ["awk", "-f", "prog.awk"],
        ["git", "-c", "core.pager=id", "log"],
        ["git", "lg"],
        ["kubectl", "exec", "pod", "--", "id"],
        ["kubectl", "exec", "pod", "id"],
        ["kubectl", "debug", "node/x", "-it", "--image=busybox"],
        ["kubectl", "evil"],
        ["docker", "exec", "ctr", "id"],
        ["docker", "run", "alpine"],
        ["ssh", "host", "id"],
        ["ssh", "host"],
        ["ssh", "-o", "ProxyCommand=id", "host", "true"],
        ["sudo", "id"],
        ["su", "-c", "id"],
        ["env", "LD_PRELOAD=/tmp/x.so", "id"],
        ["env", "-S", "id"],
        ["psql", "-c", "\\! id"],
        ["sed", "1e id", "/etc/hostname"],
        ["tar", "--to-command=id", "-xf", "a.tar"],
        ["watch", "-n1", "id"],
    ],
)
def test_launchers_and_unreadable_code_are_refused_by_default(argv: list[str]) -> None:
    allowed = sorted({argv[0], "id", "cat", "true", "kubectl-evil"})
    decision = policy(allowed, real=False).decide(argv)
    assert not decision.allowed, argv


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["sh", "-c", "id"], True),
        (["sh", "-c", "id -u"], True),
        (["sh", "-c", "cat /etc/shadow"], False),  # cat is not allowed
        (["sh", "-c", "id; cat x"], False),  # a list, not one command
        (["sh", "-c", "id $(cat x)"], False),
        (["sh", "-c", "id > /tmp/x"], False),
        (["sh", "script.sh"], False),
    ],
)
def test_a_granted_shell_runs_only_simple_allowed_command_lines(argv: list[str], ok: bool) -> None:
    org = {"allowed_commands": ["sh", "id"], "commands": {"sh": {"launcher": True}}}
    assert policy(["sh", "id"], org=org, real=False).decide(argv).allowed is ok


def test_granted_remote_launchers_check_the_remote_command_by_name() -> None:
    org = {
        "allowed_commands": ["kubectl", "ssh", "id"],
        "commands": {"kubectl": {"launcher": True}, "ssh": {"launcher": True}},
    }
    p = policy(["kubectl", "ssh", "id"], org=org, real=False)
    assert p.decide(["kubectl", "exec", "pod", "-c", "app", "--", "id"]).allowed
    assert not p.decide(["kubectl", "exec", "pod", "--", "sh", "-c", "id"]).allowed
    assert p.decide(["ssh", "-p", "2222", "host", "id"]).allowed
    assert not p.decide(["ssh", "host", "rm", "-rf", "/"]).allowed
    assert not p.decide(["ssh", "-F", "cfg", "host", "id"]).allowed


def test_a_kubectl_plugin_is_the_program_it_runs() -> None:
    org = {"allowed_commands": ["kubectl", "kubectl-evil"], "commands": {"kubectl": {"launcher": True}}}
    assert policy(["kubectl", "kubectl-evil"], org=org).decide(["kubectl", "evil"]).allowed
    decision = policy(["kubectl"], org=org).decide(["kubectl", "evil"])
    assert "command 'kubectl-evil' (/usr/local/bin/kubectl-evil) is not allowed by the runbook" in decision.reason()


def test_plain_reads_pass_untouched() -> None:
    p = policy(["kubectl", "awk", "python3", "echo"], real=False)
    assert p.decide(["kubectl", "get", "pods", "-n", "prod", "-o", "wide"]).allowed
    assert p.decide(["python3", "--version"]).allowed
    assert p.decide(["echo", "sh", "-c", "id"]).allowed  # echo prints words, whatever they say
    # awk programs need a grant even when they launch nothing
    assert not p.decide(["awk", "{print $1}"]).allowed
    org = {"allowed_commands": ["awk"], "commands": {"awk": {"launcher": True}}}
    assert policy(["awk"], org=org, real=False).decide(["awk", "-F:", "{print $1}", "/etc/passwd"]).allowed


def test_subcommand_and_flag_rules() -> None:
    org = {
        "allowed_commands": ["kubectl"],
        "commands": {
            "kubectl": {
                "allow": ["get", "describe", "logs", "top", "rollout status"],
                "deny_flags": ["--kubeconfig", "--token", "--as", "--server", "-s"],
            }
        },
    }
    p = policy(["kubectl"], org=org, real=False)
    assert p.decide(["kubectl", "-n", "prod", "get", "pods"]).allowed
    assert p.decide(["kubectl", "rollout", "status", "deploy/x"]).allowed
    assert not p.decide(["kubectl", "rollout", "restart", "deploy/x"]).allowed
    assert not p.decide(["kubectl", "delete", "pod", "x"]).allowed
    for spelling in (
        ["--kubeconfig=/x"],
        ["--kubeconfig", "/x"],
        ["--kubec=/x"],
        ["--token=abc"],
        ["--as=admin"],
        ["-shttps://x"],
    ):
        assert not p.decide(["kubectl", "get", "pods", *spelling]).allowed, spelling
    # a runbook narrows further: deny wins wherever the words appear
    narrowed = policy(["kubectl"], org=org, rules={"kubectl": {"deny": ["logs"]}}, real=False)
    assert not narrowed.decide(["kubectl", "logs", "pod"]).allowed
    assert narrowed.decide(["kubectl", "get", "pods"]).allowed


def test_xargs_cannot_smuggle_arguments_past_rules() -> None:
    org = {
        "allowed_commands": ["xargs", "kubectl"],
        "commands": {"xargs": {"launcher": True}, "kubectl": {"deny_flags": ["--token"]}},
    }
    decision = policy(["xargs", "kubectl"], org=org, real=False).decide(["xargs", "kubectl", "get"])
    assert "arguments the argv does not show" in decision.reason()


def test_every_layer_must_allow() -> None:
    layers = [
        Layer("operator's cap", ("echo",)),
        *layers_for(Governance(allowed_commands=["echo", "id"]), org=CommandSet(allowed_commands=["echo", "id"])),
    ]
    p = CommandPolicy(layers, resolve_program=resolve, resolve_entry=resolve, require_found=True)
    assert p.decide(["echo", "hi"]).allowed
    assert "not allowed by the operator's cap" in p.decide(["id"]).reason()
    assert "not found" in p.decide(["nonexistent-tool"]).reason()
    assert not p.decide(["/usr/bin/rm", "-rf", "/"]).allowed


def test_relative_paths_and_new_roots_are_refused() -> None:
    org = {
        "allowed_commands": ["env", "id", "find", "chroot"],
        "commands": {n: {"launcher": True} for n in ("env", "find", "chroot")},
    }
    p = policy(["env", "id", "find", "chroot"], org=org, real=False)
    assert "relative path" in p.decide(["env", "-C", "/tmp/evil", "./id"]).reason()
    assert "relative path" in p.decide(["find", "/tmp", "-execdir", "./id", ";"]).reason()
    assert p.decide(["env", "-C", "/tmp", "id"]).allowed
    assert not p.decide(["chroot", "/srv/root", "id"]).allowed


def test_nesting_is_bounded() -> None:
    org = {"allowed_commands": ["env", "id"], "commands": {"env": {"launcher": True}}}
    assert not policy(["env", "id"], org=org, real=False).decide(["env"] * 20 + ["id"]).allowed


def test_a_template_value_may_not_become_an_option_unless_declared() -> None:
    argv, tainted, problems = render_argv(["kubectl", "get", "{{ .pod }}"], {"pod": "--kubeconfig=/x"})
    assert problems and "would become an option" in problems[0]
    _, _, problems = render_argv(["kubectl", "get", "{{ .pod }}"], {"pod": "--kubeconfig=/x"}, flag_vars={"pod"})
    assert problems == []
    argv, tainted, problems = render_argv(["kubectl", "-n={{ .ns }}", "get"], {"ns": "-x"})
    assert problems == [] and argv[1] == "-n=-x" and tainted == [False, True, False]


def test_a_template_inside_a_command_line_is_refused() -> None:
    org = {"allowed_commands": ["sh", "id"], "commands": {"sh": {"launcher": True}}}
    p = policy(["sh", "id"], org=org, real=False)
    assert not p.decide(["sh", "-c", "id"], [False, False, True]).allowed


def test_flag_spellings() -> None:
    assert flag_hit("--kubeconfig=/x", "--kubeconfig") and flag_hit("--kubec", "--kubeconfig")
    assert flag_hit("-it", "-t") and flag_hit("-n5", "-n") and not flag_hit("--namespace", "-n")
    assert flag_hit("--engine", "-engine") and flag_hit("-engine=x", "-engine")
    assert simple_command("id -u") == ["id", "-u"]
    assert isinstance(simple_command("a | b"), str) and isinstance(simple_command("X=1 id"), str)
