"""The runbook format (libs/contracts): strict, located problems, references, JSON Schema."""

from __future__ import annotations

from runbook_builders import cli, manual, runbook

from playbooks_contracts.runbook import (
    RUNBOOK_SCHEMA_ID,
    RunbookInvalid,
    parse_runbook,
    runbook_json_schema,
    validate_runbook,
)


def problems(doc) -> list[str]:
    return [str(p) for p in validate_runbook(doc)]


def test_seed_shaped_runbook_is_valid(three_cli_and_manual) -> None:
    rb = parse_runbook(three_cli_and_manual)
    assert [s.id for s in rb.leaf_steps()] == ["say", "secret", "again", "check"]
    assert rb.meta.governance.evidence.require_for_manual is True


def test_unknown_fields_are_rejected_with_their_path() -> None:
    doc = runbook(cli("a", "echo", "x"), manual("m"))
    doc["steps"][0]["with"]["shell"] = "echo x"
    doc["steps"][1]["required_evidence"][0]["colour"] = "red"
    doc["meta"]["owner"] = "me"
    assert problems(doc) == [
        "meta.owner: unknown field",
        "steps[0].with.shell: unknown field",
        "steps[1].required_evidence[0].colour: unknown field",
    ]


def test_ids_unique_and_templates_must_resolve_to_a_var_or_an_earlier_capture() -> None:
    doc = runbook(
        cli("a", "echo", "{{ .later }}"),
        cli("b", "echo", "x", capture={"later": "stdout"}),
        cli("a", "echo", "{{ .SECRET_KEY }}"),
        deny_env_vars=["SECRET_*"],
    )
    found = problems(doc)
    assert "steps[2].id: duplicate step id 'a' (first at steps[0])" in found
    assert any(p.startswith("steps[0].with.argv[1]: {{ .later }} is neither a var") for p in found)
    assert any("names a denied environment variable" in p for p in found)


def test_argv_is_a_list_never_a_shell_line_and_templates_have_no_functions() -> None:
    assert any("shell command line" in p for p in problems(runbook(cli("a", "rm -rf /"))))
    assert any("unsupported template" in p for p in problems(runbook(cli("a", "echo", '{{ env "HOME" }}'))))


def test_parse_raises_with_every_problem_and_schema_uses_yaml_names() -> None:
    try:
        parse_runbook({"apiVersion": "runbook/v1", "meta": {"name": "x"}, "steps": []})
    except RunbookInvalid as exc:
        assert [p.location for p in exc.problems] == ["apiVersion", "steps"]
    else:
        raise AssertionError("an invalid runbook parsed")
    schema = runbook_json_schema()
    assert schema["$id"] == RUNBOOK_SCHEMA_ID  # resolvable: every service serves it there
    assert "apiVersion" in schema["properties"]
    assert "with" in schema["$defs"]["CliStep"]["properties"]
