"""Stage A extraction, shell splitting, the ontology and the rules of Stage B."""

from __future__ import annotations

import pytest

from compiler import compile_rules
from compiler.ir import Code, Table, Text, extract
from compiler.ontology import classify
from compiler.shell import parse_command, split_block

TSG = """# Disk full

Intro paragraph.

## Check

- [ ] Paged the owner
- [x] Opened the incident

| Symptom | Meaning |
|---|---|
| 100% | full |

See [the dashboard](https://grafana.example/d/disk).

```bash
df -h
```

## Fix

1. Remove old files:

   ```bash
   rm -rf /var/tmp/old
   ```
"""


def test_stage_a_sections_lines_code_lists_tables_links() -> None:
    ir = extract(TSG)
    assert ir.title == "Disk full"
    assert ir.description == "Intro paragraph."
    titles = [(s.level, s.title, s.line_start) for s in ir.sections]
    assert titles == [(1, "Disk full", 1), (2, "Check", 5), (2, "Fix", 20)]
    check = ir.sections[1]
    items = [e for e in check.elements if isinstance(e, Text) and e.kind == "item"]
    assert [(i.text, i.checked) for i in items] == [("Paged the owner", False), ("Opened the incident", True)]
    [table] = [e for e in check.elements if isinstance(e, Table)]
    assert table.header == ["Symptom", "Meaning"] and table.rows == [["100%", "full"]]
    assert [(link.text, link.href) for link in ir.links()] == [("the dashboard", "https://grafana.example/d/disk")]
    [df, rm] = ir.code_blocks()
    assert (df.lang, df.content, df.line_start) == ("bash", "df -h\n", 17)
    assert isinstance(rm, Code) and rm.in_list and rm.content.strip() == "rm -rf /var/tmp/old"
    assert ir.sections[2].line_end == ir.lines


def test_split_block_prompts_output_comments_continuations() -> None:
    content = (
        "$ kubectl get pods \\\n  -n prod   # the prod namespace\nNAME READY\napi-1 1/1\n"
        "PS C:\\> Get-Service W3SVC\n$ echo done\n"
    )
    commands, _ = split_block(content, 10)
    assert [c.text for c in commands] == ["kubectl get pods -n prod", "Get-Service W3SVC", "echo done"]
    assert commands[0].argv == ["kubectl", "get", "pods", "-n", "prod"]
    assert commands[0].output == ["NAME READY", "api-1 1/1"]
    assert (commands[0].line_start, commands[0].line_end) == (10, 11)


def test_split_block_heredoc_loop_assignment_and_comment_title() -> None:
    content = (
        "export NS=prod\n# list them\nkubectl get pods -n $NS\n"
        "cat <<EOF > /tmp/x\nhello\nEOF\nfor p in a b; do\n  echo $p\ndone\n"
    )
    commands, assignments = split_block(content, 1)
    assert [(a.name, a.value) for a in assignments] == [("ns", "prod")]
    assert commands[0].comment == "list them"
    assert commands[0].argv == ["kubectl", "get", "pods", "-n", "{{ .ns }}"]
    assert commands[1].shell == "heredoc" and "hello" in commands[1].text
    assert commands[2].shell == "loop or conditional" and commands[2].text.endswith("done")
    assert not commands[2].placeholders, "a loop variable is not a placeholder"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("kubectl get pods -n <namespace>", ["namespace"]),
        ("kubectl get pods -n ${NS}", ["ns"]),
        ("kubectl get pods -n $NS", ["ns"]),
        ("kubectl get pods -n {namespace}", ["namespace"]),
        ("az account set --subscription YOUR_SUBSCRIPTION_ID", ["subscription_id"]),
        ("kubectl logs <your-pod-name>", ["pod_name"]),
        ("curl -w '%{http_code}' http://x", []),
    ],
)
def test_placeholders_become_vars(text: str, names: list[str]) -> None:
    assert [p.name for p in parse_command(text, 1, 1).placeholders] == names


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("kubectl get pods | grep api", "pipe"),
        ("df -h > /tmp/out", "redirect"),
        ("kubectl get pods && echo ok", "command list"),
        ("echo $(date)", "command substitution"),
        ("ls /var/log/*.gz", "glob or home expansion"),
        ('echo "$HOME"', "shell variable expansion"),
        ('gcloud x describe --format="value(status)"', None),
        ("kubectl get pods -o jsonpath='{.items[*].metadata.name}'", None),
    ],
)
def test_shell_constructs(text: str, reason: str | None) -> None:
    cmd = parse_command(text, 1, 1)
    assert cmd.shell == reason
    assert (cmd.argv is None) == (reason is not None)


@pytest.mark.parametrize(
    ("argv", "kind", "blocking"),
    [
        (["kubectl", "get", "pods", "-n", "x"], "read", False),
        (["kubectl", "-n", "x", "delete", "pod", "p"], "write", False),
        (["kubectl", "logs", "p", "-f"], "read", True),
        (["kubectl", "rollout", "restart", "deploy/x"], "write", False),
        (["kubectl", "rollout", "status", "deploy/x"], "read", False),
        (["az", "vm", "show", "-g", "rg", "-n", "list"], "read", False),
        (["az", "vm", "restart", "-g", "rg"], "write", False),
        (["aws", "ec2", "describe-instances"], "read", False),
        (["aws", "ec2", "terminate-instances"], "write", False),
        (["gcloud", "container", "clusters", "get-credentials", "c"], "write", False),
        (["gcloud", "sql", "instances", "describe", "db"], "read", False),
        (["systemctl", "status", "nginx"], "read", False),
        (["systemctl", "restart", "nginx"], "write", False),
        (["psql", "-c", "SELECT 1"], "read", False),
        (["psql", "-c", "SELECT pg_terminate_backend(42)"], "write", False),
        (["psql", "-c", "DROP TABLE x"], "write", False),
        (["psql", "-h", "db"], "unknown", False),
        (["curl", "-sS", "https://x"], "read", False),
        (["curl", "-X", "POST", "https://x"], "write", False),
        (["ping", "-c", "3", "h"], "read", False),
        (["ping", "h"], "read", True),
        (["rm", "-rf", "/"], "write", False),
        (["sudo", "systemctl", "status", "x"], "write", False),
        (["frobnicate", "--all"], "unknown", False),
        (["Get-Service", "W3SVC"], "read", False),
        (["Stop-Service", "W3SVC"], "write", False),
    ],
)
def test_ontology(argv: list[str], kind: str, blocking: bool) -> None:
    verdict = classify(argv)
    assert (verdict.kind, verdict.blocking) == (kind, blocking), verdict.reason


def test_rules_reads_are_cli_writes_need_approval_prose_is_manual() -> None:
    md = """# T

## Look

```bash
kubectl get pods -n <ns>
kubectl delete pod <pod> -n <ns>
kubectl get pods -n <ns> | grep api
```

The pods should show `Running`. There should be no `Evicted` pods.

Check the **Pods** dashboard and escalate to the platform team.
"""
    result = compile_rules(md)
    rb = result.runbook
    assert result.valid, [str(p) for p in result.problems]
    get, delete, pipe, prose = rb["steps"]
    assert get["type"] == "cli" and get["with"]["argv"] == ["kubectl", "get", "pods", "-n", "{{ .ns }}"]
    assert delete["type"] == "manual" and delete["approvals"] == {"min": 1}
    assert "kubectl delete pod {{ .pod }} -n {{ .ns }}" in delete["instructions"]
    assert pipe["type"] == "manual" and "approvals" not in pipe, "a read-only pipe needs no approval"
    assert prose["type"] == "manual" and prose["required_evidence"][0]["kind"] == "checklist"
    assert rb["meta"]["vars"] == {"ns": "", "pod": ""}
    assert rb["meta"]["governance"]["allowed_commands"] == ["kubectl"]
    # two commands before the statement: it names neither, so it is kept as a manual check, not guessed
    assert "assertions" not in get
    assert any("ambiguous" in u for u in result.mapping.uncertainties)
    assert "| `ns` |" in result.mapping_markdown and "## Manual steps" in result.mapping_markdown


def test_expected_output_after_a_single_command_becomes_assertions() -> None:
    md = "# T\n\n```bash\nkubectl get pods\n```\n\nAll pods should show `Running`. No `CrashLoopBackOff`.\n"
    [step] = compile_rules(md).runbook["steps"]
    assert step["assertions"] == [{"contains": "Running"}, {"not_contains": "CrashLoopBackOff"}]


def test_nothing_recognised_still_gives_a_valid_runbook_and_a_todo() -> None:
    result = compile_rules("Just some words.\n")
    assert result.valid
    assert result.runbook["steps"][0]["type"] == "manual"
    assert result.mapping.todos


def test_sql_block_is_manual_and_write_sql_needs_approval() -> None:
    md = "# T\n\n```sql\nSELECT 1;\n```\n\n```sql\nUPDATE t SET a = 1;\n```\n"
    read, write = compile_rules(md).runbook["steps"]
    assert read["type"] == write["type"] == "manual"
    assert "approvals" not in read and write["approvals"] == {"min": 1}
