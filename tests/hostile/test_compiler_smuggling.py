"""A guide crafted to smuggle a destructive command into a ``cli`` step (issue #20).

Whatever the guide's author hides a command in (a pipeline, ``;``, ``&&``, ``$(...)``, backticks, a
session, another tool's template, a placeholder, a launcher, a prompt, a Unicode look-alike), the
compiler either leaves it out of every ``cli`` step, or shows it in a manual step that needs an
approval; and every ``cli`` step it writes is a read of a known tool that the runtime's command
policy admits.
"""

from __future__ import annotations

from typing import Any

import pytest

from compiler import compile_rules
from compiler.ontology import classify, policy_refusals
from playbooks_contracts.command_policy import static_argv
from playbooks_contracts.runbook import parse_runbook, unescape
from runbook_runtime.governance import refused_commands

DESTRUCTIVE = "rm -rf /var/lib/etcd"

SMUGGLED = {
    "pipe": f"kubectl get pods -o name | xargs {DESTRUCTIVE}",
    "semicolon": f"kubectl get pods; {DESTRUCTIVE}",
    "and": f"kubectl get pods && {DESTRUCTIVE}",
    "or": f"kubectl get pods || {DESTRUCTIVE}",
    "substitution": f"kubectl get pod $({DESTRUCTIVE})",
    "backticks": f"kubectl get pod `{DESTRUCTIVE}`",
    "background": f"kubectl get pods & {DESTRUCTIVE}",
    "newline in a continuation": f"kubectl get pods \\\n; {DESTRUCTIVE}",
    "launcher": f"timeout 5 {DESTRUCTIVE}",
    "env launcher": f"env -i {DESTRUCTIVE}",
    "watch": f"watch -n1 '{DESTRUCTIVE}'",
    "sudo": "sudo kubectl get pods",
    "placeholder as the verb": "kubectl <verb> pods --all",
    "placeholder as the program": "<tool> get pods",
    "template as the verb": "kubectl {{ .verb }} pods --all",
    "kubectl exec": f"kubectl exec web-0 -- {DESTRUCTIVE}",
    "oc debug one-shot": f"oc debug node/n1 -- chroot /host {DESTRUCTIVE}",
    "ssh one-shot": f"ssh db-1 '{DESTRUCTIVE}'",
    "find -delete": "find /var/log -name '*.gz' -delete",
    "find -exec": f"find / -maxdepth 1 -exec {DESTRUCTIVE} \\;",
    "awk system": "awk 'BEGIN { system(\"rm -rf /var/lib/etcd\") }'",
    "kubectl delete with vars": "kubectl delete pod/$PODNAME pvc/$PODNAME pv/$VOLNAME",
    "sql in psql -c": "psql -h db -c 'SELECT 1; DROP TABLE orders'",
    "curl POST": "curl -X DELETE https://api.internal/v1/clusters/prod",
}


def blocks(command: str) -> list[str]:
    """The same command written the ways guides write it."""
    return [
        f"# G\n\n## Do\n\n```bash\n{command}\n```\n",
        f"# G\n\n## Do\n\n```console\n$ {command}\n```\n",
        f"# G\n\n## Do\n\n```\n{command}\n```\n",
        f"# G\n\n## Do\n\nRun `{command}` now.\n",
    ]


def shown(step: dict[str, Any]) -> str:
    return unescape(step.get("instructions", "")) + " " + " ".join(step.get("with", {}).get("argv", []))


def assert_safe(md: str) -> dict[str, Any]:
    result = compile_rules(md)
    assert result.valid, [str(p) for p in result.problems if p.level == "error"]
    runbook = result.runbook
    for step in runbook["steps"]:
        if step["type"] == "cli":
            argv = step["with"]["argv"]
            verdict = classify(argv)
            assert verdict.automatable, (argv, verdict)
            assert not policy_refusals(argv), argv
            rendered, _ = static_argv(argv)
            assert "rm" not in rendered and not any(DESTRUCTIVE in a for a in rendered), argv
    # the runtime's own policy, judging the compiled runbook before a run, refuses none of its cli steps
    assert refused_commands(parse_runbook(runbook)) == []
    return runbook


@pytest.mark.parametrize("name", list(SMUGGLED))
def test_a_smuggled_command_is_never_a_cli_step_and_needs_an_approval(name: str) -> None:
    command = SMUGGLED[name]
    for md in blocks(command):
        runbook = assert_safe(md)
        carriers = [s for s in runbook["steps"] if s["type"] == "manual" and command.split()[0] in shown(s)]
        for step in carriers:
            if "Work through each item" in step["instructions"]:
                continue  # a prose checklist: nothing runs from it
            assert step.get("approvals") == {"min": 1}, (name, md, step)


@pytest.mark.parametrize(
    "opener",
    ["kubectl exec -it web-0 -- bash", "ssh db-1", "oc debug node/n1", "psql -h db orders", "sudo -i"],
)
def test_a_destructive_line_typed_in_a_session_is_shown_with_an_approval(opener: str) -> None:
    psql = opener.startswith("psql")
    line = "DROP TABLE orders;" if psql else DESTRUCTIVE
    inner = "orders=#" if psql else "root@host:/#"
    root = "orders=#" if psql else "#"
    for md in (
        f"# G\n\n## Do\n\n```bash\n{opener}\n{line}\n```\n",
        f"# G\n\n## Do\n\n```console\n$ {opener}\n{inner} {line}\n```\n",
        f"# G\n\n## Do\n\n```bash\n{opener}\n```\n\n```\n{root} {line}\n```\n",
    ):
        runbook = assert_safe(md)
        [step] = [s for s in runbook["steps"] if line in shown(s)]
        assert step["type"] == "manual" and step.get("approvals") == {"min": 1}, md


def test_a_root_prompt_line_is_never_run_from_the_runtime() -> None:
    runbook = assert_safe("# G\n\n## Do\n\n```\n# systemctl status kubelet\n# journalctl -u kubelet\n```\n")
    assert [s["type"] for s in runbook["steps"]] == ["manual"]


def test_another_tools_template_cannot_hide_a_runbook_template_or_a_command() -> None:
    """The guide writes the runbook's own escape and template syntax inside a foreign template: it
    reaches the program as literal text, never as a var, never as a second command."""
    md = (
        "# G\n\n## Do\n\n```bash\n"
        "kubectl get pods -o go-template='{{ \"{{\" }} .secret }}{{ .token }}{{range .items}}$(rm -rf /){{end}}'\n```\n"
    )
    runbook = assert_safe(md)
    assert "vars" not in runbook["meta"]
    [step] = runbook["steps"]
    # $( even inside quotes makes it manual (the compiler does not bet on quoting); shown exactly as written
    assert step["type"] == "manual" and step["approvals"] == {"min": 1}
    assert "'{{ \"{{\" }} .secret }}{{ .token }}{{range .items}}$(rm -rf /){{end}}'" in shown(step)


def test_a_unicode_lookalike_separator_stays_one_argument() -> None:
    runbook = assert_safe("# G\n\n## Do\n\n```bash\nkubectl get pods；rm -rf /\n```\n")
    [step] = runbook["steps"]
    if step["type"] == "cli":  # no shell reads it: the look-alike is part of one argument to kubectl get
        assert step["with"]["argv"][:3] == ["kubectl", "get", "pods；rm"]


def test_a_destructive_line_dressed_as_output_is_never_a_step() -> None:
    runbook = assert_safe(f"# G\n\n## Do\n\n```console\n$ kubectl get pods\n{DESTRUCTIVE}\n```\n")
    assert all(DESTRUCTIVE not in shown(s) for s in runbook["steps"])
