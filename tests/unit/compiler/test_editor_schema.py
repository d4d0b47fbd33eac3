"""Editors validate runbooks as people type: a resolvable schema $id, the yaml-language-server line
at the top of every compiled runbook, and ``runbook schema`` printing the schema."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import yaml
from typer.testing import CliRunner

from compiler.cli import app as compile_app
from playbooks_contracts.runbook import RUNBOOK_SCHEMA_ID, runbook_json_schema
from playbooks_platform.service import create_app, load_spec
from playbooks_platform.settings import SERVICE_PORTS
from runbook_runtime.cli import app as runbook_app

MD = "# Pods\n\n```bash\nkubectl get pods -n <ns>\nkubectl delete pod <pod>\n```\n"
LINE = f"# yaml-language-server: $schema={RUNBOOK_SCHEMA_ID}\n"


def test_runbook_schema_prints_the_schema_with_its_id() -> None:
    result = CliRunner().invoke(runbook_app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$id"] == RUNBOOK_SCHEMA_ID
    jsonschema.Draft202012Validator.check_schema(schema)
    line = CliRunner().invoke(runbook_app, ["schema", "--line"])
    assert line.exit_code == 0 and line.output == LINE


def test_runbook_schema_writes_a_copy_for_offline_editors(tmp_path: Path) -> None:
    out = tmp_path / "runbook.schema.json"
    result = CliRunner().invoke(runbook_app, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == json.loads(json.dumps(runbook_json_schema()))


async def test_the_schema_id_resolves_on_the_compilers_dev_address() -> None:
    url = urlsplit(RUNBOOK_SCHEMA_ID)
    assert url.scheme == "http" and url.hostname == "127.0.0.1" and url.port == SERVICE_PORTS["compiler"]
    app = create_app(load_spec("compiler"))  # the route needs no database or broker: no lifespan
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get(url.path)
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    assert r.json() == json.loads(json.dumps(runbook_json_schema()))


def test_a_compiled_runbook_starts_with_the_line_and_validates_against_the_schema(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(MD)
    (tmp_path / "b.md").write_text(MD.replace("Pods", "Nodes"))
    single = tmp_path / "one.runbook.yaml"
    assert CliRunner().invoke(compile_app, [str(tmp_path / "a.md"), "--out", str(single)]).exit_code == 0
    assert CliRunner().invoke(compile_app, [str(tmp_path), "--out", str(tmp_path / "compiled")]).exit_code == 0
    validator = jsonschema.Draft202012Validator(runbook_json_schema())
    for path in [single, *sorted((tmp_path / "compiled").glob("*.runbook.yaml"))]:
        text = path.read_text()
        assert text.startswith(LINE), path
        assert list(validator.iter_errors(yaml.safe_load(text))) == [], path
