"""Property tests: the runbook parser and the compiler never fail with an unhandled exception.

The runbook parser answers any JSON document with a runbook or a list of located problems; the
compiler turns any Markdown (well-formed or not, with shell-looking noise) into a runbook that
passes its own validation, or says why not.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks_contracts.runbook import RunbookInvalid, parse_runbook, validate_runbook

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
STEP_KEYS = ["id", "type", "with", "argv", "capture", "assertions", "title", "required_evidence", "steps", "timeout"]
steps = st.lists(
    st.dictionaries(st.sampled_from(STEP_KEYS), json_values, max_size=5)
    | st.fixed_dictionaries(
        {"id": st.text(max_size=8), "type": st.sampled_from(["cli", "manual", "group", "x"])},
        optional={"with": st.fixed_dictionaries({"argv": st.lists(st.text(max_size=12), max_size=4)})},
    ),
    max_size=5,
)
runbook_like = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["runbook/v0", "runbook/v1", ""]) | json_scalars,
        "meta": st.dictionaries(st.sampled_from(["name", "vars", "governance", "extra"]), json_values, max_size=4),
        "steps": steps,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, runbook_like))
def test_the_runbook_parser_answers_any_document(doc) -> None:
    problems = validate_runbook(doc)
    try:
        parse_runbook(doc)
    except RunbookInvalid as exc:
        assert exc.problems == problems and problems
        assert all(p.location and p.message for p in problems)
    else:
        assert problems == []


markdown_lines = st.sampled_from(
    [
        "# Disk full on {host}",
        "## Check",
        "1. Check the dashboard",
        "- Verify the pods are Running",
        "- [ ] confirm with the on-call",
        "```bash",
        "```",
        "```",
        "$ kubectl get pods -n <namespace>",
        "kubectl delete pod $POD --force",
        "df -h | sort -r > /tmp/x",
        "for i in 1 2; do echo $i; done",
        "cat <<EOF",
        "EOF",
        "echo ${NS} \\",
        "  --flag 'unterminated",
        "PS> Get-Service W3SVC",
        "| a | b |",
        "|---|---|",
        "Run: `systemctl status nginx`",
        "The output should show Running",
        "[runbook](http://example.invalid)",
        "{{ .already }} {{ weird }}",
    ]
)
markdown = st.lists(markdown_lines | st.text(alphabet=string.printable, max_size=40), max_size=25).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown)
def test_the_compiler_answers_any_markdown(text: str) -> None:
    from compiler.pipeline import compile_rules

    result = compile_rules(text, source_name="fuzz.md")
    errors = [d for d in result.diagnostics if d.level == "error"]
    # Either a valid runbook, or the diagnostics say what is wrong; never an exception.
    assert errors or validate_runbook(result.runbook) == []
