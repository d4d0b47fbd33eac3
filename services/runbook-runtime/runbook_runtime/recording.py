"""``runbook record``: a real run's CLI calls as a cli-replay scenario (redacted), plus its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .engine import Engine
from .executor import Runner, Transcript
from .redaction import Redactor
from .session import evidence_path


class Recording:
    """Wraps a runner and keeps every call (output redacted: a scenario is shared like a trace)."""

    def __init__(self, runner: Runner, redact: Redactor) -> None:
        self.inner = runner
        self.redact = redact
        self.calls: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        t = self.inner(argv, stdin, timeout)
        # an argument the redaction rules touch is a secret: match it with {{ .any }}, never store it
        match: dict[str, Any] = {"argv": [a if self.redact(a) == a else "{{ .any }}" for a in argv]}
        # stdin holding a secret is not matched at all (no stdin matcher accepts any): never stored
        if stdin is not None and not self.redact.changes(stdin):
            match["stdin"] = stdin
        respond: dict[str, Any] = {"exit": t.exit_code, "stdout": self.redact(t.stdout)}
        if t.stderr:
            respond["stderr"] = self.redact(t.stderr)
        self.calls.append({"match": match, "respond": respond})
        return t


def attach_recording(engine: Engine) -> Recording:
    rec = Recording(engine.runner, engine.redact)
    engine.runner = rec
    return rec


def write_scenario(engine: Engine, rec: Recording, out: Path) -> Path:
    """Write ``out`` (the scenario) and the manual evidence beside it; returns the evidence path."""
    meta = engine.runbook.meta
    scenario = {
        "meta": {
            "name": meta.name,
            "description": f"recorded from run {engine.state.run_id}",
            "vars": engine.redact.tree(dict(engine.state.vars)),
            "security": {
                "allowed_commands": list(meta.governance.allowed_commands),
                "deny_env_vars": list(meta.governance.deny_env_vars),
            },
        },
        "steps": rec.calls,
    }
    out.write_text(yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True))
    evidence = {
        step_id: engine.redact.tree(ev.model_dump(mode="json")) for step_id, ev in engine.state.evidence.items()
    }
    path = evidence_path(out)
    path.write_text(yaml.safe_dump(evidence, sort_keys=False, allow_unicode=True))
    return path
