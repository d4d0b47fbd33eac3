"""The golden set: TSGs written for this repo, their reviewed runbooks, and the measures over them."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from playbooks_contracts.runbook import TEMPLATE_REF, unescape

from .pipeline import CompileResult, compile_rules, dump_yaml
from .validate import errors

_SENTINEL = "GOLDENxVARx{}xEND"


def golden_dir() -> Path:
    return Path(str(files("compiler").joinpath("golden")))


def cases() -> list[str]:
    """Names (file stems) of the golden TSGs."""
    return sorted(p.stem for p in golden_dir().glob("*.md"))


def source(case: str) -> str:
    return (golden_dir() / f"{case}.md").read_text()


def expected_path(case: str) -> Path:
    return golden_dir() / f"{case}.runbook.yaml"


def expected_commands() -> dict[str, list[str]]:
    data: dict[str, list[str]] = yaml.safe_load((golden_dir() / "commands.yaml").read_text())
    return data


def compile_case(case: str) -> CompileResult:
    return compile_rules(source(case), source_name=f"{case}.md")


def diff(case: str, result: CompileResult | None = None) -> str:
    """A unified diff of the reviewed runbook against what the compiler produces now ('' when equal)."""
    result = result or compile_case(case)
    want = expected_path(case).read_text()
    got = dump_yaml(result.runbook)
    return "".join(
        difflib.unified_diff(
            want.splitlines(keepends=True), got.splitlines(keepends=True), f"{case}.runbook.yaml (reviewed)", "compiled"
        )
    )


def _argv_of(command: str) -> list[str] | None:
    names: list[str] = []

    def keep(m: re.Match[str]) -> str:
        names.append(m.group(0))
        return _SENTINEL.format(len(names) - 1)

    try:
        tokens = shlex.split(TEMPLATE_REF.sub(keep, command))
    except ValueError:
        return None
    return [re.sub(r"GOLDENxVARx(\d+)xEND", lambda m: names[int(m.group(1))], t) for t in tokens]


def _norm(text: str) -> str:
    return " ".join(text.split())


def command_found(command: str, runbook: dict[str, Any]) -> bool:
    """True when a source command ended up in a step: as a cli argv, or verbatim in manual instructions."""
    argv = _argv_of(command)
    wanted = _norm(command)
    for step in runbook.get("steps", []):
        leaves = step.get("steps", [step]) if step.get("type") == "group" else [step]
        for leaf in leaves:
            # other tools' braces are written with the runbook's escape: compare them as the guide wrote them
            if leaf.get("type") == "cli" and argv is not None and [unescape(a) for a in leaf["with"]["argv"]] == argv:
                return True
            if leaf.get("type") == "manual" and wanted in _norm(unescape(leaf.get("instructions", ""))):
                return True
    return False


@dataclass
class Measures:
    tsgs: int
    commands: int
    found: int
    invented: int
    valid: int
    ms_per_tsg: float

    @property
    def recall(self) -> float:
        return self.found / self.commands if self.commands else 1.0


def measure(results: dict[str, CompileResult]) -> Measures:
    """Command recall, invented commands (provenance errors), schema-valid count, mean milliseconds."""
    truth = expected_commands()
    commands = found = invented = valid = 0
    for case, result in results.items():
        for cmd in truth.get(case, []):
            commands += 1
            found += command_found(cmd, result.runbook)
        invented += sum(1 for p in errors(result.problems) if p.code == "provenance")
        valid += not any(p.code == "schema" for p in errors(result.problems))
    ms = sum(r.elapsed_ms for r in results.values()) / max(1, len(results))
    return Measures(len(results), commands, found, invented, valid, ms)
