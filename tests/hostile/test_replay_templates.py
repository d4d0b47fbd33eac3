"""A scenario author attacks the replay: templates that would loop or flood, deny_env_vars bypasses,
regexes and documents that would take forever. Each is refused at load or bounded while replaying.

cli-replay renders responses with Go's text/template; here the data-only subset in gotemplate.py
renders them (no range, no template calls, no variables), output is cut at the cap, printf widths
and nesting are bounded, and only ``meta.vars`` (with run vars over them, unless denied) and the
scenario's own captures ever reach a template.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from playbooks_dev.testing import Infra, running_service
from runbook_runtime.gotemplate import MAX_DEPTH, Template, render_data
from runbook_runtime.scenario import Replayer, ReplayMismatch, ScenarioInvalid, parse_scenario
from runbook_runtime.session import load_scenario

CAP = 64 * 1024


def scenario(*steps: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"meta": {"name": "hostile", **meta}, "steps": list(steps)}


def replying(stdout: str, argv: tuple[str, ...] = ("echo", "x"), **meta: Any) -> dict[str, Any]:
    return scenario({"match": {"argv": list(argv)}, "respond": {"stdout": stdout}}, **meta)


# -- templates that would loop or flood ----------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ range .capture }}{{ range .capture }}x{{ end }}{{ end }}",
        '{{ define "loop" }}{{ template "loop" }}{{ end }}{{ template "loop" }}',
        '{{ block "b" . }}{{ template "b" . }}{{ end }}',
        "{{ $i := 0 }}{{ $i }}",
        "{{ range 1000000000 }}x{{ end }}",
        "{{ break }}",
        "{{ call .fn }}",
    ],
)
def test_a_template_that_could_loop_or_recurse_is_refused_at_load(template: str) -> None:
    with pytest.raises(ScenarioInvalid, match="not supported"):
        parse_scenario(replying(template))


def test_a_flood_of_output_stops_at_the_cap_while_rendering() -> None:
    # 2,000 references to a 100 KB var would write 200 MB; the renderer stops at the cap
    big = "x" * 100_000
    r = Replayer(parse_scenario(replying("{{ .big }}" * 2000, vars={"big": big})), output_cap=CAP)
    t0 = time.perf_counter()
    reply = r.answer(["echo", "x"])
    print(f"\n200 MB template cut at {CAP} bytes in {time.perf_counter() - t0:.3f}s")
    assert reply.truncated and len(reply.stdout.encode()) < CAP + 100
    assert reply.stdout.endswith(f"[template output cut at {CAP} bytes]…\n")


def test_without_an_output_cap_the_renderer_still_stops() -> None:
    text, cut = Template("{{ .big }}" * 50).render(render_data({"big": "y" * 1000}, {}), limit=10_000)
    assert cut and len(text) == 10_000


@pytest.mark.parametrize("verb", ["%999999999s", "%.999999999f", "%0999999999d", "%-50000v"])
def test_a_printf_width_bomb_is_refused_while_rendering(verb: str) -> None:
    r = Replayer(parse_scenario(replying(f'{{{{ printf "{verb}" 1 }}}}')), output_cap=CAP)
    with pytest.raises(ReplayMismatch, match=r"printf width .* is over the bound"):
        r.answer(["echo", "x"])


def test_deep_nesting_is_refused_without_exhausting_the_stack() -> None:
    deep_ifs = "{{ if .a }}" * 10_000 + "x" + "{{ end }}" * 10_000
    deep_parens = "{{ " + "(" * 5_000 + ".a" + ")" * 5_000 + " }}"
    for template in (deep_ifs, deep_parens):
        with pytest.raises(ScenarioInvalid, match=f"nested deeper than {MAX_DEPTH}"):
            parse_scenario(replying(template))


def test_many_actions_render_in_one_pass() -> None:
    text, cut = Template("{{ .a }}" * 50_000).render(render_data({"a": "z"}, {}))
    assert text == "z" * 50_000 and not cut


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{" * 100_000, "unclosed action"),
        ('{{ "' + '\\"' * 50_000, "unterminated quoted string"),
        ("{{/*" + " " * 100_000, "unclosed comment"),
    ],
)
def test_templates_that_never_close_are_refused_in_linear_time(template: str, reason: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ScenarioInvalid, match=reason):
        parse_scenario(replying(template))
    print(f"\n{len(template)} characters refused in {time.perf_counter() - t0:.3f}s")


def test_an_argv_template_is_rendered_no_longer_than_the_argument_it_is_compared_with() -> None:
    argv = ("echo", "{{ .big }}" * 1000)
    r = Replayer(parse_scenario(replying("ok", argv=argv, vars={"big": "b" * 100_000})))
    with pytest.raises(ReplayMismatch):
        r.answer(["echo", "short"])  # rendering stops after 6 bytes instead of writing 100 MB


# -- deny_env_vars and the environment -----------------------------------------------------------

SECRET = "AKIA-canary-7f3a9"


@pytest.mark.parametrize(
    "probe",
    [
        "{{ .AWS_SECRET_ACCESS_KEY }}",
        '{{ index . "AWS_SECRET_ACCESS_KEY" }}',
        "{{ . }}",
        '{{ printf "%v" . }}',
        "{{ with . }}{{ .AWS_SECRET_ACCESS_KEY }}{{ end }}",
        '{{ if eq .AWS_SECRET_ACCESS_KEY "' + SECRET + '" }}GUESSED{{ end }}',
        "{{ .capture.AWS_SECRET_ACCESS_KEY }}",
        "{{ .UNDECLARED_TOKEN }}",
        "{{ print .AWS_SECRET_ACCESS_KEY .UNDECLARED_TOKEN }}",
    ],
)
def test_a_denied_run_var_never_reaches_a_response(probe: str) -> None:
    doc = replying(
        probe, vars={"AWS_SECRET_ACCESS_KEY": "placeholder"}, security={"deny_env_vars": ["AWS_*", "*_TOKEN"]}
    )
    run_vars = {"AWS_SECRET_ACCESS_KEY": SECRET, "UNDECLARED_TOKEN": SECRET}
    reply = Replayer(parse_scenario(doc), vars_=run_vars).answer(["echo", "x"])
    assert SECRET not in reply.stdout and "GUESSED" not in reply.stdout


def test_a_denied_run_var_cannot_be_guessed_through_argv_matching() -> None:
    doc = replying(
        "matched",
        argv=("curl", "{{ .AWS_SECRET_ACCESS_KEY }}"),
        vars={"AWS_SECRET_ACCESS_KEY": "placeholder"},
        security={"deny_env_vars": ["AWS_*"]},
    )
    r = Replayer(parse_scenario(doc), vars_={"AWS_SECRET_ACCESS_KEY": SECRET})
    with pytest.raises(ReplayMismatch):
        r.answer(["curl", SECRET])  # the guess is compared with the scenario's own default only
    assert r.answer(["curl", "placeholder"]).stdout == "matched"


def test_the_process_environment_never_reaches_a_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBOOKS_DATABASE_PASSWORD", SECRET)
    doc = replying("[{{ .PLAYBOOKS_DATABASE_PASSWORD }}]", vars={"PLAYBOOKS_DATABASE_PASSWORD": ""})
    assert Replayer(parse_scenario(doc)).answer(["echo", "x"]).stdout == "[]"


def test_a_malformed_deny_pattern_is_refused_instead_of_failing_open() -> None:
    # cli-replay skips a pattern path.Match cannot parse, so a typo silently denies nothing
    with pytest.raises(ScenarioInvalid, match="unclosed"):
        parse_scenario(replying("x", security={"deny_env_vars": ["AWS_[*"]}))


# -- regexes and documents -----------------------------------------------------------------------


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    evil = "a" * 200_000 + "!"
    doc = scenario({"match": {"argv": ["grep", '{{ .regex "(a+)+$" }}']}, "respond": {"stdout": "never"}})
    r = Replayer(parse_scenario(doc))
    t0 = time.perf_counter()
    assert r.answer(["grep", "a" * 20]).stdout == "never"
    r2 = Replayer(parse_scenario(doc))
    with pytest.raises(ReplayMismatch):
        r2.answer(["grep", evil])  # no match (the "!" ends it): RE2 answers without backtracking
    print(f"\n(a+)+$ on {len(evil)} characters: {time.perf_counter() - t0:.3f}s")


@pytest.mark.parametrize("pattern", ["(a)\\1", "a(?=b)", "(?<!x)y", "x" * 1001])
def test_regexes_re2_cannot_run_are_refused_at_load(pattern: str) -> None:
    doc = scenario({"match": {"argv": ["grep", f'{{{{ .regex "{pattern}" }}}}']}})
    with pytest.raises(ScenarioInvalid, match=r"not supported|over the limit"):
        parse_scenario(doc)


def test_a_scenario_file_that_expands_aliases_is_refused(tmp_path: Path) -> None:
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    (tmp_path / "bomb.yaml").write_text("\n".join(laughs) + "\nmeta: {name: x}\nsteps: [{match: {argv: [a]}}]\n")
    with pytest.raises(ScenarioInvalid):
        load_scenario(tmp_path / "bomb.yaml")


# -- through the service: refused with a 422 that says why ------------------------------------------


async def test_a_looping_template_is_refused_over_http_with_its_reason(infra: Infra, org: str) -> None:
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "hostile", "governance": {"allowed_commands": ["echo"]}},
        "steps": [{"id": "a", "type": "cli", "with": {"argv": ["echo", "x"]}}],
    }
    looping = replying("{{ range .capture }}x{{ end }}")
    async with running_service("runbook-runtime", infra) as (client, _runtime, _app):
        r = await client.post(
            "/v1/runs",
            json={"runbook": runbook, "mode": "replay", "scenario": looping, "start": True},
            headers=infra.auth(org),
        )
    assert r.status_code == 422, r.text
    assert "steps[0].respond" in r.json()["detail"] and "range loops are not supported" in r.json()["detail"]
