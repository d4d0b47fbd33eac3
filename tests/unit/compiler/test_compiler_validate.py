"""Stage C: schema, governance consistency, replay compatibility, no invented command."""

from __future__ import annotations

import copy

from compiler import compile_rules
from compiler.validate import check, errors

MD = "# T\n\n```bash\nkubectl get pods -n <ns>\n```\n"


def _base() -> dict:
    return copy.deepcopy(compile_rules(MD).runbook)


def _codes(problems) -> set[str]:
    return {p.code for p in errors(problems)}


def test_compiled_runbook_is_clean() -> None:
    assert errors(check(_base(), source=MD)) == []


def test_invented_argument_and_command_are_caught() -> None:
    rb = _base()
    rb["steps"][0]["with"]["argv"] = ["kubectl", "get", "secrets", "-n", "{{ .ns }}"]
    problems = errors(check(rb, source=MD))
    assert [(p.code, p.location) for p in problems] == [("provenance", "steps[0].with.argv[2]")]
    rb = _base()
    rb["steps"].append({"id": "x", "type": "cli", "with": {"argv": ["kubectl", "get", "nodes"]}})
    assert "provenance" in _codes(check(rb, source=MD))


def test_invented_var_default_and_assertion_are_caught() -> None:
    rb = _base()
    rb["meta"]["vars"]["ns"] = "prod"
    rb["steps"][0]["assertions"] = [{"contains": "Running"}]
    locations = {p.location for p in errors(check(rb, source=MD))}
    assert locations == {"meta.vars.ns", "steps[0].assertions[0]"}


def test_governance_must_allow_exactly_the_tools_used() -> None:
    rb = _base()
    rb["meta"]["governance"]["allowed_commands"] = ["kubectl", "rm"]
    assert any("rm is allowed but no cli step uses it" in p.message for p in check(rb))
    rb["meta"]["governance"]["allowed_commands"] = []
    assert any("kubectl is used but not allowed" in p.message for p in check(rb))


def test_write_command_as_cli_step_is_refused() -> None:
    rb = _base()
    rb["steps"][0]["with"]["argv"] = ["kubectl", "delete", "pods", "--all"]
    assert any(p.code == "governance" and "manual step with an approval" in p.message for p in check(rb))


def test_shell_syntax_in_argv_is_not_replay_compatible() -> None:
    rb = _base()
    rb["steps"][0]["with"]["argv"] = ["kubectl", "get", "pods", "|", "grep", "x"]
    assert "replay" in _codes(check(rb))


def test_schema_problems_have_locations() -> None:
    rb = _base()
    rb["steps"][0]["bogus"] = 1
    [problem] = check(rb)
    assert (problem.code, problem.location) == ("schema", "steps[0].bogus")
