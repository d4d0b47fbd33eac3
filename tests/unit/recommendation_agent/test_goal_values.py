"""Goal parameters: the schema read from a runbook and its playbook, values read from words, answers checked."""

from __future__ import annotations

from typing import Any

import pytest

from playbooks_platform.errors import Invalid
from recommendation_agent.goals import check_value, fill_from_words, open_questions, parameter_specs, var_text
from recommendation_agent.intent import rules_intent

DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "instance_id",
            "type": "string",
            "description": "RDS instance identifier",
            "validation": {"pattern": "^[a-zA-Z][a-zA-Z0-9-]{0,62}$"},
        },
        {"name": "replicas", "type": "integer", "description": "How many", "validation": {"minimum": 0, "maximum": 10}},
        {"name": "force", "type": "boolean", "description": "Skip checks"},
    ],
    "runbook": {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "rds",
            "vars": {
                "environment": {"allowed": ["prod", "staging"]},
                "instance_id": {"description": "The database"},
                "region": {"allowed": ["us-east-1", "eu-west-1"]},
                "replicas": "1",
                "force": "false",
                "token": {"secret": True},
                "extra_args": {"flag": True, "default": ""},
            },
            "governance": {"allowed_commands": ["aws"]},
        },
        "steps": [{"id": "a", "type": "cli", "with": {"argv": ["aws", "rds", "describe-db-instances"]}}],
    },
}


@pytest.fixture
def specs() -> list[dict[str, Any]]:
    return parameter_specs(DOC)


def spec(specs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(s for s in specs if s["name"] == name)


def fill(text: str, specs: list[dict[str, Any]]) -> dict[str, tuple[Any, str, str]]:
    return {
        k: (v["value"], v["source"], v["evidence"]) for k, v in fill_from_words(text, rules_intent(text), specs).items()
    }


def test_the_runbook_declares_the_parameters_and_the_playbook_describes_them(specs) -> None:
    assert [s["name"] for s in specs] == [
        "environment",
        "instance_id",
        "region",
        "replicas",
        "force",
        "token",
        "extra_args",
    ]
    assert spec(specs, "instance_id")["description"] == "The database"  # the runbook's own words first
    assert spec(specs, "instance_id")["pattern"] == "^[a-zA-Z][a-zA-Z0-9-]{0,62}$"
    assert spec(specs, "replicas")["type"] == "integer" and spec(specs, "replicas")["default"] == "1"
    assert spec(specs, "region")["required"] and not spec(specs, "replicas")["required"]
    assert spec(specs, "token")["secret"] and spec(specs, "token")["required"]
    questions = {q["name"]: q for q in open_questions(specs, {})}
    assert questions["region"]["allowed"] == ["us-east-1", "eu-west-1"]
    assert set(questions["region"]) == {"name", "type", "description", "required", "allowed", "default", "secret"}


def test_values_from_the_words_carry_their_provenance(specs) -> None:
    got = fill("Stop prod RDS instance orders-db in eu-west-1 for the weekend with 3 replicas", specs)
    assert got["environment"] == ("prod", "intent", "prod")
    assert got["instance_id"] == ("orders-db", "words", "instance orders-db")
    assert got["region"] == ("eu-west-1", "words", "eu-west-1")
    assert got["replicas"] == (3, "words", "3 replicas")
    assert "token" not in got  # a secret is never read from a sentence


def test_the_intent_maps_to_the_allowed_spelling(specs) -> None:
    # "production" is the intent's; this runbook spells it "prod"
    assert fill("Stop production RDS for weekend", specs) == {"environment": ("prod", "intent", "production")}


def test_words_that_break_the_schema_are_asked_instead(specs) -> None:
    got = fill("Stop RDS instance 9lives in ap-south-1 with 50 replicas", specs)
    assert "instance_id" not in got  # the pattern wants a letter first
    assert "region" not in got  # not an allowed region
    assert "replicas" not in got  # over the maximum


def test_a_bare_name_fills_the_one_open_identifier(specs) -> None:
    assert fill("Stop staging RDS orders-db in us-east-1", specs)["instance_id"] == ("orders-db", "words", "orders-db")
    # two candidates: the words do not decide
    assert "instance_id" not in fill("Stop staging RDS orders-db and billing-db", specs)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("replicas", 3, 3),
        ("replicas", "4", 4),
        ("replicas", 2.0, 2),
        ("force", True, True),
        ("force", "FALSE", False),
        ("region", "us-east-1", "us-east-1"),
        ("extra_args", "--verbose", "--verbose"),  # a flag var may take an option
        ("instance_id", "orders-db", "orders-db"),
    ],
)
def test_good_answers(specs, name: str, value: Any, expected: Any) -> None:
    assert check_value(spec(specs, name), value) == expected


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("replicas", "three", "whole number"),
        ("replicas", 2.5, "whole number"),
        ("replicas", True, "number"),
        ("replicas", 11, "at most 10"),
        ("force", "yes", "true or false"),
        ("region", "cn-north-1", "allowed values"),
        ("instance_id", "-rf", "letter first"),
        ("instance_id", "db\nrm", "control characters"),
        ("instance_id", ["a"], "one value"),
        ("instance_id", {"a": 1}, "one value"),
        ("environment", "--prod", "allowed"),
        ("token", "nope", None),
    ],
)
def test_bad_answers_name_the_parameter(specs, name: str, value: Any, why: str | None) -> None:
    target = spec(specs, name)
    if name == "token":
        target = target | {"allowed": ["s3cr3t-value"]}
    with pytest.raises(Invalid) as caught:
        check_value(target, value)
    assert caught.value.extra["parameter"] == name and repr(name) in caught.value.detail
    if why == "letter first":
        assert "must match" in caught.value.detail
    elif why:
        assert why in caught.value.detail
    if name == "token":
        assert "s3cr3t" not in caught.value.detail  # a secret's allowed values are never shown


def test_an_option_is_refused_unless_the_var_is_a_flag() -> None:
    plain = {"name": "target", "type": "string", "flag": False}
    with pytest.raises(Invalid, match="cannot start with '-'"):
        check_value(plain, "--kubeconfig=/etc/x")
    assert check_value(plain | {"flag": True}, "--verbose") == "--verbose"


def test_var_text() -> None:
    assert [var_text(v) for v in (True, False, 3, 2.0, 2.5, "x")] == ["true", "false", "3", "2", "2.5", "x"]
