"""``runbook-compile`` / ``runbook compile``: one file, or a folder with a summary table."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from compiler.cli import app

MD = "# Pods\n\n```bash\nkubectl get pods -n <ns>\nkubectl delete pod <pod>\n```\n"


def test_compile_one_file(tmp_path: Path) -> None:
    src = tmp_path / "tsg.md"
    src.write_text(MD)
    out, mapping = tmp_path / "out" / "runbook.yaml", tmp_path / "out" / "mapping.md"
    result = CliRunner().invoke(app, [str(src), "--out", str(out), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "2 steps (1 cli, 1 manual)" in result.output and "valid" in result.output
    doc = yaml.safe_load(out.read_text())
    assert doc["apiVersion"] == "runbook/v0" and doc["meta"]["vars"] == {"ns": "", "pod": ""}
    assert "## Manual steps" in mapping.read_text()


def test_compile_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(MD)
    (tmp_path / "b.md").write_text("# Only prose\n\nCheck the dashboard.\n")
    result = CliRunner().invoke(app, [str(tmp_path), "--out", str(tmp_path / "compiled")])
    assert result.exit_code == 0, result.output
    assert "2 TSGs" in result.output and "0 invalid" in result.output
    assert sorted(p.name for p in (tmp_path / "compiled").iterdir()) == [
        "a.mapping.md",
        "a.runbook.yaml",
        "b.mapping.md",
        "b.runbook.yaml",
    ]


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [str(tmp_path / "nope.md")])
    assert result.exit_code == 2


def test_runbook_cli_has_the_compile_command() -> None:
    from runbook_runtime.cli import app as runbook_app

    result = CliRunner().invoke(runbook_app, ["compile", "--help"])
    assert result.exit_code == 0 and "--mapping" in result.output
