"""The one template language: ``{{ .path }}``, one dotted-path lookup, the old forms' converters."""

from __future__ import annotations

import pytest

from playbooks_contracts.templating import (
    MAX_PATH_LENGTH,
    MAX_PLACEHOLDERS,
    MISSING,
    Placeholder,
    TemplateError,
    bare_change,
    check,
    downgrade_bare,
    downgrade_dollar,
    is_old_bare,
    lookup,
    parse,
    render,
    render_value,
    substitute,
    to_text,
    upgrade_bare,
    upgrade_document,
    upgrade_dollar,
    warnings_of,
)

DATA = {"event": {"id": "e-1", "n": 3, "ok": True, "none": None, "tags": ["a", "b"], "obj": {"k": "v"}}}


def test_lookup_walks_mappings_and_list_indexes_only() -> None:
    assert lookup(DATA, "event.id") == "e-1"
    assert lookup(DATA, ("event", "tags", "1")) == "b"
    assert lookup(DATA, "event.none") is None
    for missing in ("event.nope", "event.tags.2", "event.tags.x", "event.id.upper", "event.__class__", "event.n.0"):
        assert lookup(DATA, missing) is MISSING
    assert lookup({"a": ["x"]}, "a." + "9" * 50) is MISSING  # no int() of a huge digit run


def test_render_substitutes_in_one_pass_and_leaves_other_braces() -> None:
    text, missing = render('{{ .event.id }}/{{.event.n}} {{ .event.ok }} {{ 7*7 }} {{ "{{" }} .x }} {{ .nope }}', DATA)
    assert text == "e-1/3 true {{ 7*7 }} {{ .x }} {{ .nope }}"
    assert missing == ["nope"]
    assert render("{{ .event.obj }}|{{ .event.none }}|{{ .event.tags }}", DATA)[0] == '{"k":"v"}||["a","b"]'
    # a value holding a placeholder is written as it is, never rendered again
    assert render("{{ .v }}", {"v": "{{ .secret }}", "secret": "s3"})[0] == "{{ .secret }}"


def test_render_value_keeps_types_of_whole_placeholders_when_asked() -> None:
    missing: list[str] = []
    value = {"n": "{{ .event.n }}", "t": "n={{ .event.n }}", "l": ["{{ .event.tags }}", 1], "gone": "{{ .x }}"}
    assert render_value(value, DATA, missing, typed=True) == {
        "n": 3,
        "t": "n=3",
        "l": [["a", "b"], 1],
        "gone": "{{ .x }}",
    }
    assert missing == ["x"]
    assert render_value(value, DATA, [], typed=False)["n"] == "3"


def test_parse_pieces_and_the_old_dollar_forms() -> None:
    assert parse("a {{ .b.c }} d") == ["a ", Placeholder("b.c", "{{ .b.c }}"), " d"]
    assert parse("${a} $b $$ $5 {{ .c }}", old_dollar=True) == [
        Placeholder("a", "${a}"),
        " ",
        Placeholder("b", "$b"),
        " $ $5 ",
        Placeholder("c", "{{ .c }}"),
    ]
    assert substitute('x {{ .a.b }} {{ "{{" }}', lambda p: f"<{p}>") == "x <a.b> {{"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{{ ." + "a" * (MAX_PATH_LENGTH + 1) + " }}", "characters"),
        ("{{ ." + ".".join("a" * 20) + " }}", "segments"),
        ("{{ .a }}" * (MAX_PLACEHOLDERS + 1), "placeholders"),
    ],
)
def test_bounds_are_refused(text: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason):
        check({"k": [text]})


def test_the_budget_counts_a_whole_document() -> None:
    check(["{{ .a }}"] * MAX_PLACEHOLDERS)
    with pytest.raises(TemplateError):
        check(["{{ .a }}"] * (MAX_PLACEHOLDERS + 1))


def test_upgrade_dollar_renders_the_same_and_round_trips() -> None:
    context = {"a": 1, "obj": {"x": "y"}}
    old = "${a} ${obj.x} $a, $$5 $$a $5 ${missing} ${"
    new, changes = upgrade_dollar(old)
    assert new == "{{ .a }} {{ .obj.x }} {{ .a }}, $5 $a $5 {{ .missing }} ${"
    assert [c[0] for c in changes] == ["${a}", "${obj.x}", "$a", "${missing}"]
    assert render(new, context)[0] == "1 y 1, $5 $a $5 {{ .missing }} ${"
    assert render(old, context, old_dollar=True)[0] == "1 y 1, $5 $a $5 ${missing} ${"
    assert downgrade_dollar(new) == "${a} ${obj.x} ${a}, $5 $$a $5 ${missing} $${"
    assert render(downgrade_dollar(new), context, old_dollar=True)[0] == render(old, context, old_dollar=True)[0]
    # a text already in the new language is left as it is
    assert upgrade_dollar("{{ .a }} and $a") == ("{{ .a }} and $a", [])
    assert downgrade_dollar("{{ .with-dash }}") == "{{ .with-dash }}"


def test_upgrade_bare_whole_strings_only() -> None:
    assert upgrade_bare("{{ activity.doc_id }}") == "{{ .activity.doc_id }}"
    assert upgrade_bare("{{a.b-c.0}}") == "{{ .a.b-c.0 }}"
    for not_old in ("x {{ a }}", "{{ .a }}", "{{ bad path }}", "plain", '{{ "{{" }}'):
        assert upgrade_bare(not_old) is None
    assert is_old_bare("{{ bad path }}") and not is_old_bare("{{ .a }}") and not is_old_bare('{{ "{{" }}')
    assert downgrade_bare("{{ .a.b }}") == "{{ a.b }}" and downgrade_bare("x {{ .a }}") == "x {{ .a }}"


def test_upgrade_document_reports_where_and_what() -> None:
    value, found = upgrade_document(
        {"m": {"d": "{{ event.id }}"}, "l": ["x", "{{ event.n }}"], "n": 1}, "actions[0].params", bare_change
    )
    assert value == {"m": {"d": "{{ .event.id }}"}, "l": ["x", "{{ .event.n }}"], "n": 1}
    assert [w.model_dump() for w in warnings_of(found)] == [
        {
            "code": "deprecated_template",
            "message": found[0].as_warning()["message"],
            "path": "actions[0].params.m.d",
            "replacement": "{{ .event.id }}",
        },
        {
            "code": "deprecated_template",
            "message": found[1].as_warning()["message"],
            "path": "actions[0].params.l[1]",
            "replacement": "{{ .event.n }}",
        },
    ]


def test_to_text() -> None:
    assert [to_text(v) for v in (None, "s", True, False, 2, 2.5, {"a": [1]}, "é")] == [
        "",
        "s",
        "true",
        "false",
        "2",
        "2.5",
        '{"a":[1]}',
        "é",
    ]
