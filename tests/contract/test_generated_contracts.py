"""proto-contracts/ is exactly what `make contracts` generates now, and every document in it is valid."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from playbooks_contracts import Envelope
from playbooks_contracts.messages import PlaybookRunsRecorded, RecordedRun
from playbooks_contracts.runbook import runbook_json_schema
from playbooks_platform.contracts_export import build, drift, write
from playbooks_platform.service import installed_services

COMMITTED = Path(__file__).resolve().parents[2] / "proto-contracts"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return build()


def test_committed_contracts_match_the_code(generated: dict[str, str]) -> None:
    stale = drift(COMMITTED, generated)
    assert not stale, f"proto-contracts/ is out of date, run `make contracts`: {stale}"


def test_regenerating_into_a_folder_gives_the_same_files(generated: dict[str, str], tmp_path: Path) -> None:
    changed = write(tmp_path, generated)
    assert sorted(changed) == sorted(generated)
    assert drift(tmp_path, generated) == []
    (tmp_path / "schemas/envelope.json").write_text("{}\n")
    (tmp_path / "schemas/stale.json").write_text("{}\n")
    assert drift(tmp_path, generated) == ["schemas/envelope.json", "schemas/stale.json"]
    assert sorted(write(tmp_path, generated)) == ["schemas/envelope.json", "schemas/stale.json"]
    assert not (tmp_path / "schemas/stale.json").exists()


def test_refuses_to_write_over_a_folder_it_did_not_generate(generated: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="refusing"):
        write(tmp_path, generated)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_every_installed_service_has_a_valid_openapi_document(generated: dict[str, str]) -> None:
    for service in installed_services():
        doc = json.loads(generated[f"openapi/{service}.json"])
        validate_openapi(doc)
        assert {"/healthz", "/readyz", "/metrics"} <= set(doc["paths"]), service


def test_the_runbook_schema_is_published(generated: dict[str, str]) -> None:
    assert json.loads(generated["schemas/runbook.json"]) == runbook_json_schema()


def test_message_schemas_are_valid_and_accept_real_messages(generated: dict[str, str]) -> None:
    schemas = {p: json.loads(t) for p, t in generated.items() if p.startswith("schemas/")}
    for path, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"].endswith("2020-12/schema"), path

    def check(path: str, message: dict) -> list[str]:
        validator = jsonschema.Draft202012Validator(schemas[path], format_checker=jsonschema.FormatChecker())
        return [e.message for e in validator.iter_errors(message)]

    trigger = Envelope(
        type="activity_event", org_id="acme", source="http:u", data={"activity": {"type": "contract_signed"}}
    ).model_dump(mode="json")
    assert check("schemas/messages/activity_event.json", trigger) == []
    assert check("schemas/envelope.json", trigger) == []
    assert check("schemas/messages/exception.json", trigger), "an activity is not an exception"
    assert check("schemas/messages/activity_event.json", {**trigger, "extra": 1}), "the envelope is strict"

    now = "2026-11-23T05:00:00Z"
    runs = PlaybookRunsRecorded(
        event_id=uuid.uuid4(),
        trigger="activity_event",
        created_at=now,
        runs=[
            RecordedRun(run_id=uuid.uuid4(), playbook_id=uuid.uuid4(), playbook_name="n", status=status)
            for status in ("success", "skipped")
        ],
    )
    recorded = Envelope(type="playbook_runs.recorded", org_id="acme", data=runs.model_dump(mode="json"))
    assert check("schemas/messages/playbook_runs.recorded.json", recorded.model_dump(mode="json")) == []
    recorded.data["runs"][1]["status"] = "exploded"
    assert check("schemas/messages/playbook_runs.recorded.json", recorded.model_dump(mode="json"))
    recorded.data["runs"] = []
    assert check("schemas/messages/playbook_runs.recorded.json", recorded.model_dump(mode="json")), "never empty"

    raw = {"org_id": "acme", "domain": "Finance", "exception_type": "late", "severity": "high"}
    assert check("schemas/upstream/upstream.exceptions.json", raw) == []
    assert check("schemas/upstream/upstream.exceptions.json", {**raw, "severity": "urgent"})


def test_cli_check_reports_drift_and_write_fixes_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from playbooks_platform.cli import app

    runner = CliRunner()
    stale = runner.invoke(app, ["contracts", "--check", "--out", str(tmp_path)])
    assert stale.exit_code == 1 and "out of date" in stale.output
    written = runner.invoke(app, ["contracts", "--out", str(tmp_path)])
    assert written.exit_code == 0, written.output
    fresh = runner.invoke(app, ["contracts", "--check", "--out", str(tmp_path)])
    assert fresh.exit_code == 0 and "up to date" in fresh.output
