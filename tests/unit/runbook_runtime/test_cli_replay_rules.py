"""cli-replay's rules, each on a scenario written here: what its loader refuses, how its engine answers.

The rules come from cli-replay's loader and engine (pkg/scenario, pkg/replay), README and tests;
bench/fidelity/cli_replay_compat.py measures the same on cli-replay's own files against its own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook_runtime.gotemplate import Template, TemplateError, render_data
from runbook_runtime.scenario import Replayer, ReplayMismatch, ScenarioInvalid, parse_scenario


def doc(*steps: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"meta": {"name": "rules", **meta}, "steps": list(steps)}


def step(*argv: str, stdout: str | None = None, **extra: Any) -> dict[str, Any]:
    respond = {k: extra.pop(k) for k in ("exit", "stderr", "capture", "stdout_file", "stderr_file") if k in extra}
    if stdout is not None:
        respond["stdout"] = stdout
    return {"match": {"argv": list(argv), **extra.pop("match", {})}, "respond": respond, **extra}


def group(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"group": {"mode": "unordered", "steps": list(steps), **extra}}


def refused(document: Any, reason: str) -> None:
    with pytest.raises(ScenarioInvalid, match=reason):
        parse_scenario(document)


def replayer(document: dict[str, Any], **kw: Any) -> Replayer:
    return Replayer(parse_scenario(document), **kw)


# -- loading ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_blank_meta_name_is_refused(name: str) -> None:
    refused({"meta": {"name": name}, "steps": [step("a")]}, r"meta\.name: name must be non-empty")


def test_an_empty_document_and_a_scenario_without_steps_are_refused() -> None:
    refused(None, "empty scenario file")
    refused({"meta": {"name": "x"}, "steps": []}, "at steps: List should have at least 1 item")


def test_a_capture_named_like_a_meta_var_is_refused() -> None:
    refused(
        doc(step("az", "show", capture={"zone": "b"}), vars={"zone": "a"}),
        "step 0: capture identifier 'zone' conflicts with meta.vars key 'zone'",
    )


@pytest.mark.parametrize("where", ["stdout", "stderr"])
def test_a_capture_used_before_the_step_defining_it_is_refused(where: str) -> None:
    user = step("kubectl", "get", **{where: "id={{ .capture.later }}"})
    refused(
        doc(user, step("kubectl", "create", capture={"later": "7"})),
        "step 0 references capture 'later' first defined at step 1 \\(forward reference\\)",
    )


def test_a_forward_reference_across_a_group_is_refused_and_a_backward_one_loads() -> None:
    refused(
        doc(group(step("a", stdout="{{ .capture.x }}"), step("b", capture={"x": "1"}))),
        "step 0 references capture 'x' first defined at step 1",
    )
    parse_scenario(doc(step("b", capture={"x": "1"}), group(step("a", stdout="{{ .capture.x }}"))))
    # a capture no step defines renders empty: not a forward reference
    parse_scenario(doc(step("a", stdout="{{ .capture.nowhere }}")))


@pytest.mark.parametrize("key", ["1st", "has-dash", "dot.ted", ""])
def test_a_capture_id_must_be_an_identifier(key: str) -> None:
    refused(doc(step("a", capture={key: "v"})), "must match \\[a-zA-Z_\\]\\[a-zA-Z0-9_\\]\\*")


@pytest.mark.parametrize("code", [-1, 256, 1000])
def test_exit_codes_are_0_to_255(code: int) -> None:
    refused(doc(step("a", exit=code)), "respond.exit")


def test_call_bounds_take_cli_replays_defaults() -> None:
    flat = parse_scenario(
        doc(step("a", calls={"min": 2}), step("b", calls={"max": 3}), step("c"), step("d", calls={"min": 0, "max": 1}))
    ).flat_steps()
    assert [(s.calls.min, s.calls.max) for s in flat] == [(2, 2), (0, 3), (1, 1), (0, 1)]
    refused(doc(step("a", calls={"min": 0})), "calls.max must be >= 1, got 0")
    refused(doc(step("a", calls={})), "calls.max must be >= 1")
    refused(doc(step("a", calls={"min": 5, "max": 3})), r"calls.min \(5\) must be <= calls.max \(3\)")


def test_groups_need_mode_unordered_and_hold_only_steps() -> None:
    refused(doc({"group": {"steps": [step("a")]}}), "group.mode: Field required")
    refused(doc({"group": {"mode": "ordered", "steps": [step("a")]}}), "unsupported group mode 'ordered'")
    refused(doc(group(group(step("a")))), "match")
    refused(doc({"group": {"mode": "unordered", "steps": []}}), "at least 1 item")


def test_a_step_and_a_group_are_told_apart_by_the_group_key() -> None:
    scenario = parse_scenario(doc(step("a"), group(step("b"), step("c"), name="checks"), group(step("d"))))
    assert scenario.group_ranges() == [(1, 3, "checks"), (3, 4, "group-2")]


def test_inline_and_file_output_exclude_each_other_unless_the_inline_is_empty() -> None:
    refused(doc(step("a", stdout="x", stdout_file="out.txt")), "stdout and stdout_file are mutually exclusive")
    refused(doc(step("a", stderr="x", stderr_file="err.txt")), "stderr and stderr_file are mutually exclusive")
    parse_scenario(doc(step("a", stdout="", stdout_file="out.txt")))


@pytest.mark.parametrize(
    ("where", "document"),
    [
        ("respond.calls", doc({"match": {"argv": ["a"]}, "respond": {"calls": {"min": 1}}})),
        ("match.args", doc({"match": {"args": ["a"]}})),
        ("meta.owner", {"meta": {"name": "x", "owner": "me"}, "steps": [step("a")]}),
        ("reply", doc({"match": {"argv": ["a"]}, "reply": {}})),
        ("group.steps", doc({"group": {"mode": "unordered", "steps": [step("a")]}, "extra": 1})),
    ],
)
def test_unknown_fields_are_refused_at_every_level(where: str, document: dict[str, Any]) -> None:
    refused(document, "Extra inputs are not permitted|Field required \\(and 1 more")


def test_security_and_session_are_validated() -> None:
    refused(doc(step("a"), security={"deny_env_vars": ["AWS_*", ""]}), r"deny_env_vars\[1\]: must be non-empty")
    refused(doc(step("a"), session={"ttl": "0s"}), "ttl must be positive")
    refused(doc(step("a"), session={"ttl": "ten minutes"}), "is not a Go duration")
    assert parse_scenario(doc(step("a"), session={"ttl": "1h30m"})).meta.session.ttl == 5400


def test_allowed_commands_refuse_a_step_outside_the_list_by_base_name() -> None:
    parse_scenario(doc(step("/usr/local/bin/kubectl", "get"), security={"allowed_commands": ["kubectl"]}))
    refused(
        doc(step("kubectl", "get"), step("rm", "-rf", "/"), security={"allowed_commands": ["kubectl"]}),
        "step 1: command 'rm' is not in meta.security.allowed_commands",
    )


def test_scalars_are_read_as_their_text_like_yaml_v3_does() -> None:
    scenario = parse_scenario(doc(step("curl", 8080, stdout="{{ .port }}"), vars={"port": 8080, "debug": True}))
    assert scenario.meta.vars == {"port": "8080", "debug": "true"}
    assert scenario.flat_steps()[0].match.argv == ["curl", "8080"]


def test_templates_outside_the_safe_subset_are_refused_with_the_construct_named() -> None:
    refused(doc(step("a", stdout="{{ range .capture }}x{{ end }}")), "range loops are not supported")
    refused(doc(step("a", stderr='{{ template "t" }}')), "template calls are not supported")
    refused(doc(step("a", stdout="{{ $x := 1 }}")), r"template variables \(\$x\) are not supported")
    refused(doc(step("a", stdout="{{ .x ")), "unclosed action")


def test_an_invalid_regex_is_refused_at_load() -> None:
    refused(doc(step("a", '{{ .regex "(a)\\1" }}')), "RE2")


# -- replaying --------------------------------------------------------------------------------------


def test_responses_render_vars_and_earlier_captures_as_go_templates() -> None:
    r = replayer(
        doc(
            step("helm", "install", stdout="release {{ .release }} rev {{ .capture.rev }}", capture={"rev": "4"}),
            step("helm", "status", stdout="{{ .release }}@{{ .capture.rev }}", stderr="warn: {{ .capture.rev }}"),
            vars={"release": "web"},
        )
    )
    first = r.answer(["helm", "install"])
    assert first.stdout == "release web rev "  # its own capture is set after it answers
    second = r.answer(["helm", "status"])
    assert (second.stdout, second.stderr) == ("web@4", "warn: 4")


def test_a_missing_var_prints_no_value_and_a_missing_capture_prints_nothing() -> None:
    r = replayer(doc(step("a", stdout="[{{ .nope }}][{{ .capture.nope }}]")))
    assert r.answer(["a"]).stdout == "[<no value>][]"


def test_a_sibling_capture_in_a_group_is_empty_until_its_step_has_run() -> None:
    sc = doc(group(step("get", "svc", stdout="pod={{ .capture.pod }}"), step("get", "pods", capture={"pod": "p1"})))
    # capture defined later in the same group: cli-replay's loader sees a forward reference
    refused(sc, "forward reference")
    ok = doc(group(step("get", "pods", capture={"pod": "p1"}), step("get", "svc", stdout="pod={{ .capture.pod }}")))
    r = replayer(ok)
    assert r.answer(["get", "svc"]).stdout == "pod="
    r2 = replayer(ok)
    r2.answer(["get", "pods"])
    assert r2.answer(["get", "svc"]).stdout == "pod=p1"


def test_output_files_are_rendered_too(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text("cluster {{ .cluster }}\n")
    r = replayer(doc(step("kubectl", stdout_file="out.txt"), vars={"cluster": "blue"}), base_dir=tmp_path)
    assert r.answer(["kubectl"]).stdout == "cluster blue\n"


@pytest.mark.parametrize("sent", ["a: 1\nb: 2", "a: 1\nb: 2\n", "a: 1\r\nb: 2\r\n", "a: 1\nb: 2\n\n\n"])
def test_stdin_is_compared_with_crlf_as_lf_and_trailing_newlines_trimmed(sent: str) -> None:
    r = replayer(doc(step("kubectl", "apply", "-f", "-", match={"stdin": "a: 1\nb: 2\n"}, stdout="applied")))
    assert r.answer(["kubectl", "apply", "-f", "-"], sent).stdout == "applied"


def test_a_stdin_mismatch_is_refused_without_consuming_the_step() -> None:
    r = replayer(doc(step("cat", match={"stdin": "hello\n"}, stdout="hello")))
    for sent in ("hello world\n", " hello", None):
        with pytest.raises(ReplayMismatch, match="stdin mismatch at scenario step\\[0\\]"):
            r.answer(["cat"], sent)
    assert r.answer(["cat"], "hello").stdout == "hello"


def test_a_step_without_stdin_ignores_what_is_piped() -> None:
    assert replayer(doc(step("cat", stdout="x"))).answer(["cat"], "anything").stdout == "x"


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("b+", "abbbc", True),  # anywhere, as Go's MatchString
        ("^b+$", "abbbc", False),
        ("^(prod|staging)-", "prod-eu", True),
        ("[0-9]{3}", "build-1234-x", True),
        ("^[a-z]+$", "UPPER", False),
    ],
)
def test_a_regex_item_matches_anywhere_in_the_argument(pattern: str, value: str, matches: bool) -> None:
    r = replayer(doc(step("deploy", f'{{{{ .regex "{pattern}" }}}}', stdout="ok")))
    if matches:
        assert r.answer(["deploy", value]).stdout == "ok"
    else:
        with pytest.raises(ReplayMismatch):
            r.answer(["deploy", value])


def test_any_matches_one_argument_and_lengths_must_agree() -> None:
    r = replayer(doc(step("az", "{{ .any }}", "list", calls={"min": 1, "max": 3})))
    r.answer(["az", "group", "list"])
    r.answer(["az", "{{ .any }}", "list"])
    with pytest.raises(ReplayMismatch):
        r.answer(["az", "group", "list", "--all"])


def test_a_var_in_argv_matches_its_value_and_its_literal_text() -> None:
    sc = doc(step("kubectl", "-n", "{{ .ns }}", calls={"min": 1, "max": 2}), vars={"ns": "prod"})
    r = replayer(sc)
    r.answer(["kubectl", "-n", "prod"])  # as cli-replay's README writes it
    r.answer(["kubectl", "-n", "{{ .ns }}"])  # as cli-replay's engine compares it
    with pytest.raises(ReplayMismatch):
        replayer(sc).answer(["kubectl", "-n", "dev"])


def test_run_vars_override_meta_vars_unless_deny_env_vars_names_them() -> None:
    sc = doc(
        step("show", stdout="{{ .cluster }}/{{ .AWS_REGION }}/{{ .SECRET_TOKEN }}/{{ .undeclared }}"),
        vars={"cluster": "demo", "AWS_REGION": "default-region", "SECRET_TOKEN": ""},
        security={"deny_env_vars": ["AWS_*", "SECRET_?OKEN"]},
    )
    run_vars = {"cluster": "blue", "AWS_REGION": "eu-west-1", "SECRET_TOKEN": "s3cr3t", "undeclared": "leak"}
    assert replayer(sc, vars_=run_vars).answer(["show"]).stdout == "blue/default-region//<no value>"
    # an empty run var does not override (cli-replay ignores empty environment values)
    assert replayer(sc, vars_={"cluster": ""}).answer(["show"]).stdout == "demo/default-region//<no value>"


def test_steps_are_consumed_in_order_with_soft_advance_past_a_met_minimum() -> None:
    sc = doc(
        step("poll", calls={"min": 1, "max": 5}, stdout="polled"),
        step("deploy", stdout="deployed"),
        step("optional", calls={"min": 0, "max": 1}),
        step("verify", stdout="verified"),
    )
    r = replayer(sc)
    with pytest.raises(ReplayMismatch, match="expected: \\['poll'\\]"):
        r.answer(["deploy"])  # poll's minimum is not met yet
    assert [r.answer(["poll"]).stdout for _ in range(2)] == ["polled"] * 2
    assert r.answer(["deploy"]).stdout == "deployed"  # soft advance past poll
    # cli-replay soft-advances one step at a time: 'verify' is tried only after 'optional'
    assert r.answer(["verify"]).stdout == "verified"
    with pytest.raises(ReplayMismatch, match="no steps left"):
        r.answer(["verify"])
    assert [row["calls"] for row in r.report()] == [2, 1, 0, 1] and all(row["ok"] for row in r.report())


def test_a_group_is_matched_in_any_order_and_left_once_its_minimums_are_met() -> None:
    sc = doc(
        step("git", "status"),
        group(step("az", "show", calls={"min": 1, "max": 2}), step("docker", "info"), name="preflight"),
        step("kubectl", "apply"),
    )
    r = replayer(sc)
    r.answer(["git", "status"])
    r.answer(["docker", "info"])
    with pytest.raises(ReplayMismatch, match="unordered group 'preflight'"):
        r.answer(["kubectl", "apply"])  # az show has not been called: the barrier holds
    r.answer(["az", "show"])
    r.answer(["az", "show"])
    r.answer(["kubectl", "apply"])
    assert all(row["ok"] for row in r.report())


def test_a_call_past_max_moves_on_and_a_finished_scenario_refuses_more() -> None:
    r = replayer(doc(step("a", calls={"min": 1, "max": 2}), step("b")))
    r.answer(["a"])
    r.answer(["a"])
    with pytest.raises(ReplayMismatch, match="expected: \\['b'\\]"):
        r.answer(["a"])
    r.answer(["b"])
    with pytest.raises(ReplayMismatch, match="no steps left"):
        r.answer(["b"])


def test_allowed_commands_also_refuse_each_replayed_command() -> None:
    r = replayer(doc(step("kubectl", "get"), security={"allowed_commands": ["kubectl"]}))
    with pytest.raises(ReplayMismatch, match=r"'curl' is not in the scenario's meta\.security\.allowed_commands"):
        r.answer(["curl", "http://x"])
    r.answer(["kubectl", "get"])


def test_when_is_accepted_and_not_evaluated_as_in_cli_replay() -> None:
    r = replayer(doc(step("a", when="{{ .capture.ready }}", stdout="ran")))
    assert r.answer(["a"]).stdout == "ran"


def test_a_paused_replay_resumes_where_it_was() -> None:
    sc = doc(step("a", capture={"x": "1"}), group(step("b"), step("c")), step("d", stdout="{{ .capture.x }}"))
    r = replayer(sc)
    r.answer(["a"])
    r.answer(["c"])
    again = replayer(sc)
    again.load(r.dump())
    again.answer(["b"])
    assert again.answer(["d"]).stdout == "1"


def test_a_snapshot_from_before_the_flat_engine_still_loads() -> None:
    sc = doc(step("a"), group(step("b"), step("c")), step("d", stdout="{{ .capture.x }}"))
    r = replayer(sc)
    r.load({"position": 1, "counts": [[1], [0, 1], [0]], "vars": {"x": "kept"}})
    r.answer(["b"])
    assert r.answer(["d"]).stdout == "kept"  # captures were kept among the vars then


# -- the template subset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("{{ .v }}", "one"),
        ("a  {{- .v -}}  b", "aoneb"),
        ("{{/* note */}}x", "x"),
        ('{{ "{{" }} .v }}', "{{ .v }}"),
        ('{{ printf "%s-%03d" .v 7 }}', "one-007"),
        ("{{ if .v }}yes{{ else }}no{{ end }}", "yes"),
        ("{{ if .nope }}a{{ else if .capture.c }}b{{ else }}c{{ end }}", "b"),
        ("{{ with .capture.c }}<{{ . }}>{{ end }}", "<seen>"),
        ('{{ if eq .v "one" "two" }}eq{{ end }}', "eq"),
        ("{{ .v | len }}", "3"),
        ('{{ index .capture "c" }}', "seen"),
        ("{{ . }}", "map[capture:map[c:seen] v:one]"),
        ("{{ print 1 2 }} {{ print .v .v }}", "1 2 oneone"),
        ('{{ printf "%v|%s" .nope .nope }}', "<nil>|%!s(<nil>)"),
    ],
)
def test_the_subset_renders_as_go_does(template: str, expected: str) -> None:
    text, cut = Template(template).render(render_data({"v": "one"}, {"c": "seen"}))
    assert (text, cut) == (expected, False)


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ .v.x }}", "can't evaluate field x in type string"),
        ("{{ .nope.x }}", "nil pointer evaluating"),
        ("{{ len 3 }}", "len of type int"),
        ('{{ lt 1 "a" }}', "incompatible types"),
    ],
)
def test_what_go_fails_to_render_fails_here_too(template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        Template(template).render(render_data({"v": "one"}, {}))
