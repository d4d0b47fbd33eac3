"""The patterns public troubleshooting guides use (issue #20), each in a small guide written here."""

from __future__ import annotations

from typing import Any

import pytest

from compiler import compile_rules, goldens
from compiler.fidelity import Figures, figures
from compiler.shell import opens_session, split_block
from playbooks_contracts.runbook import unescape


def steps(md: str) -> list[dict[str, Any]]:
    result = compile_rules(md)
    assert result.valid, [str(p) for p in result.problems if p.level == "error"]
    return result.runbook["steps"]


def manual_with(md: str, text: str) -> dict[str, Any]:
    found = [s for s in steps(md) if s["type"] == "manual" and text in unescape(s["instructions"])]
    assert found, f"no manual step shows {text!r}"
    return found[0]


def test_other_tools_templates_stay_literal_and_dollar_in_single_quotes_is_no_var() -> None:
    md = (
        "# Nodes\n\n## Look\n\n```bash\n"
        "kubectl get nodes -o template --template='{{range .items}}{{range $k, $v := .metadata.labels}}"
        '{{$k}}={{$v}}{{end}}{{"\\n"}}{{end}}\' -l role=<role>\n```\n'
    )
    result = compile_rules(md)
    assert result.valid, [str(p) for p in result.problems]
    [step] = result.runbook["steps"]
    assert step["type"] == "cli"
    argv = step["with"]["argv"]
    assert unescape(argv[5]).startswith("--template={{range .items}}{{range $k, $v := .metadata.labels}}")
    assert argv[-1] == "role={{ .role }}"  # <role> outside the quotes is still a placeholder
    assert set(result.runbook["meta"]["vars"]) == {"role"}  # neither k nor v


def test_go_template_in_double_quotes_is_kept_but_shell_variables_there_are_placeholders() -> None:
    md = '# X\n\n## Y\n\n```bash\ndocker inspect -f "{{.State.Status}}" $CONTAINER\n```\n'
    [step] = steps(md)
    assert step["type"] == "cli" and unescape(step["with"]["argv"][3]) == "{{.State.Status}}"
    assert step["with"]["argv"][4] == "{{ .container }}"


def test_commands_typed_in_an_oc_debug_session_are_one_manual_step_with_approval() -> None:
    md = (
        "# Node\n\n## Fix\n\n```console\n$ oc debug node/<node>\nsh-4.4# chroot /host\n"
        "sh-4.4# systemctl restart rpm-ostreed\nsh-4.4# journalctl -u rpm-ostreed --no-pager\n```\n"
    )
    [step] = steps(md)
    assert step["type"] == "manual" and step["approvals"] == {"min": 1}
    text = step["instructions"]
    assert "In the session opened by `oc debug node/{{ .node }}`" in text
    assert "chroot /host\nsystemctl restart rpm-ostreed\njournalctl -u rpm-ostreed --no-pager" in text


def test_a_root_prompt_block_after_the_session_block_continues_the_session() -> None:
    md = (
        "# Node\n\n## Fix\n\n```bash\noc debug node/<node>\n```\n\nThen, inside:\n\n"
        "```\n# chroot /host\n# systemctl restart kubelet\n```\n\n## Check\n\n```bash\noc get nodes\n```\n"
    )
    out = steps(md)
    assert [s["type"] for s in out] == ["manual", "manual", "cli"]
    assert "In the session opened by `oc debug node/{{ .node }}`" in out[1]["instructions"]
    assert "systemctl restart kubelet" in out[1]["instructions"] and out[1]["approvals"] == {"min": 1}


@pytest.mark.parametrize(
    "opener",
    [
        "kubectl exec -it web-0 -n shop -- bash",
        "kubectl --context prod -n monitoring exec -it prom-0 -c sidecar sh",
        "ssh db-1.internal",
        "psql -h db-1 -U readonly orders",
        "oc rsh -c etcdctl -n openshift-etcd $(oc get pod -l app=etcd -oname | head -1)",
        "kubectl run -it --rm debug --image=busybox",
        "aws ssm start-session --target i-0123456789",
        "sudo -i",
    ],
)
def test_session_openers(opener: str) -> None:
    assert opens_session(opener)


@pytest.mark.parametrize(
    "command",
    ["kubectl exec web-0 -- ls /", "ssh db-1 uptime", "psql -c 'select 1'", "oc debug node/x -- chroot /host ls"],
)
def test_commands_that_run_one_thing_open_no_session(command: str) -> None:
    assert not opens_session(command)


def test_lines_typed_after_exec_it_are_listed_in_the_session_step_and_exit_ends_it() -> None:
    block = "kubectl exec -it web-0 -- bash\ndf -h\nrm -rf /tmp/cache/*\nexit\nkubectl get pods\n"
    commands, _ = split_block(block, 1, lang="bash")
    assert [c.text for c in commands] == ["kubectl exec -it web-0 -- bash", "kubectl get pods"]
    assert [t for _, t in commands[0].session] == ["df -h", "rm -rf /tmp/cache/*", "exit"]


def test_psql_prompt_lines_are_typed_in_the_psql_session() -> None:
    md = "# Db\n\n## Look\n\n```\n$ psql -h db orders\norders=> SELECT 1;\norders=> DELETE FROM jobs;\n```\n"
    step = manual_with(md, "DELETE FROM jobs;")
    assert step["approvals"] == {"min": 1} and "SELECT 1;" in step["instructions"]


def test_a_log_line_never_becomes_a_command() -> None:
    md = (
        "# Api\n\n## Symptom\n\n```\nreceived unexpected HTTP status: 500 Internal Server Error\n```\n\n"
        '```bash\nkubectl logs web-0\n\nError from server: Get "https://node:10250/x": dial tcp 10.0.0.1:10250\n'
        "web-0   1/1     Running   0          21d\n```\n"
    )
    result = compile_rules(md)
    shown = " ".join(c.text for c in result.mapping.commands)
    assert [c.text for c in result.mapping.commands] == ["kubectl logs web-0"], shown
    blocks = result.mapping_markdown.split("## Code blocks", 1)[1]
    assert "kept as reference: not commands" in blocks


def test_pipelines_lists_prlimit_tf_and_a_destructive_delete_all_become_steps() -> None:
    md = (
        "# Consumers\n\n## Look\n\n```bash\nps auxww | grep [c]onsumer\n"
        "watch -n 5 'ps -eo pid,cmd | awk \"NR<=10\" | sort'\ncd /tmp; sudo -u app lsof -p $PID | sort\n"
        "prlimit -n -p $PID\ntf plan -out=x.plan\nkubectl delete pod/$PODNAME pvc/data-$PODNAME -n q\n```\n"
    )
    out = steps(md)
    assert len(out) == 6
    by_text = {unescape(s.get("instructions", "")) + " ".join(s.get("with", {}).get("argv", [])): s for s in out}
    delete = next(s for t, s in by_text.items() if "kubectl delete pod/{{ .podname }}" in t)
    assert delete["type"] == "manual" and delete["approvals"] == {"min": 1}
    prlimit = next(s for s in out if s["type"] == "cli")
    assert prlimit["with"]["argv"] == ["prlimit", "-n", "-p", "{{ .pid }}"]
    tf = next(s for t, s in by_text.items() if "tf plan" in t)
    assert tf["type"] == "manual" and tf["approvals"] == {"min": 1}  # plan runs provider plugins


def test_a_jq_select_does_not_swallow_the_command_after_it() -> None:
    md = (
        "# Pv\n\n## Fix\n\n```shell\nVOLNAME=$(kubectl get pv -o json | \\\n"
        "  jq -r '.items[]|select(.spec.claimRef.name==\"x\")|.metadata.name')\n\n"
        "kubectl delete pod/$PODNAME pv/$VOLNAME\n```\n"
    )
    step = manual_with(md, "kubectl delete pod/{{ .podname }} pv/{{ .volname }}")
    assert step["approvals"] == {"min": 1}


def test_every_imperative_sentence_is_a_checklist_item_listed_in_the_mapping() -> None:
    md = (
        "# Cache\n\n## Recover\n\nThen restart the cache. Delete the bad node pool. Scale the consumers up. "
        "The pool is managed by the platform team.\n"
    )
    result = compile_rules(md)
    [step] = result.runbook["steps"]
    items = step["required_evidence"][0]["items"]
    assert items == ["Then restart the cache.", "Delete the bad node pool.", "Scale the consumers up."]
    prose = result.mapping_markdown.split("## Prose instructions", 1)[1]
    assert prose.count("(checklist item)") == 3


def test_mapping_accounts_for_every_section_and_code_block() -> None:
    md = (
        "# G\n\nIntro.\n\n## Background\n\nSome history.\n\n## Look\n\n```bash\nkubectl get pods\n```\n\n"
        "```yaml\nkind: Pod\n```\n"
    )
    text = compile_rules(md).mapping_markdown
    sections = text.split("## Sections", 1)[1].split("## Code blocks", 1)[0]
    assert "G > Background" in sections and "no step: prose" in sections
    blocks = text.split("## Code blocks", 1)[1].split("## Prose", 1)[0]
    assert "| 12-12 | bash | used by `look-1` |" in blocks and "| 16-16 | yaml | kept as reference" in blocks


def test_healthy_example_output_proposes_assertions_and_says_so() -> None:
    md = (
        "# Pods\n\n## Check\n\nA healthy cluster looks like this; a broken one shows `CrashLoopBackOff`.\n\n"
        "## Look\n\nThe following is an example where all pods are healthy:\n\n"
        "```bash\nkubectl get pods -n shop\n```\n\n"
        "```text\nweb-0   1/1   Running   0   3d\n```\n"
    )
    result = compile_rules(md)
    step = next(s for s in result.runbook["steps"] if s["type"] == "cli")
    assert step["assertions"] == [{"contains": "Running"}, {"not_contains": "CrashLoopBackOff"}]
    assert "shown as healthy, so proposed" in result.mapping_markdown


def test_output_not_shown_as_healthy_proposes_nothing() -> None:
    md = "# Pods\n\n## Look\n\n```bash\nkubectl get pods\n```\n\nExample output:\n\n```text\nweb-0  0/1  Error\n```\n"
    step = steps(md)[0]
    assert "assertions" not in step


def test_the_golden_set_meets_the_fidelity_figures() -> None:
    total = Figures()
    for case in goldens.cases():
        total.add(figures(goldens.source(case), goldens.compile_case(case), case))
    assert total.valid == total.guides and total.invented == 0 and total.destructive_cli == 0
    assert total.typed_in_step == total.typed, total.missed
    assert total.imperatives_accounted == total.imperatives, total.missed
    assert total.output_as_command == 0, total.missed
    assert total.assertions > 0


def test_a_config_line_that_starts_with_a_tool_name_is_no_cli_step() -> None:
    md = "# Pg\n\n## Allow\n\n1. Add the pg_hba entries\n    * `host replication repl 10.0.0.0/8 md5`\n"
    step = manual_with(md, "host replication repl 10.0.0.0/8 md5")
    assert step["approvals"] == {"min": 1} and "at most 2 words" in step["instructions"]


def test_a_tool_named_in_passing_is_no_command_but_run_uptime_is() -> None:
    named = compile_rules("# W\n\n## L\n\nYou may use it with `watch`, to refresh it.\n")
    assert not named.mapping.commands
    run = compile_rules("# W\n\n## L\n\nThen run `uptime`.\n")
    assert [c.text for c in run.mapping.commands] == ["uptime"]


def test_cd_is_shown_without_an_approval_and_env_prefixes_name_the_program() -> None:
    md = "# A\n\n## Go\n\n```bash\ncd /srv/app\nAPP_ENV=prod ansible-playbook site.yml\n```\n"
    cd, play = steps(md)
    assert cd["type"] == "manual" and "approvals" not in cd and "shell builtin" in cd["instructions"]
    assert play["approvals"] == {"min": 1} and "environment variables for ansible-playbook" in play["instructions"]
