"""``runbook record``: a real run's CLI calls as a cli-replay scenario (redacted), plus its evidence."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from .engine import Engine
from .executor import Runner, Transcript
from .redaction import Redactor
from .scenario import parse_scenario
from .session import evidence_path

_PORTABLE_GLOB = re.compile(r"[A-Za-z0-9_.*?-]+")


def literal(text: str) -> str:
    """``text`` as a Go template that renders to itself: cli-replay renders every response, so a
    recorded ``{{`` (a program printing a template, say) is written as the action ``{{"{{"}}``."""
    return text.replace("{{", '{{"{{"}}')


def replay_exit(code: int) -> int:
    """An exit status cli-replay accepts (0-255): a process killed by signal N (-N here) exits 128+N
    as a shell reports it; anything else out of range is kept modulo 256, as the kernel does."""
    if code < 0:
        return min(128 + -code, 255)
    return code % 256


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
        # a timed-out call exits 124 on replay, as timeout(1) reports one
        code = 124 if t.timed_out else replay_exit(t.exit_code)
        respond: dict[str, Any] = {"exit": code, "stdout": literal(self.redact(t.stdout))}
        if t.stderr:
            respond["stderr"] = literal(self.redact(t.stderr))
        self.calls.append({"match": match, "respond": respond})
        return t


def attach_recording(engine: Engine) -> Recording:
    rec = Recording(engine.runner, engine.redact)
    engine.runner = rec
    return rec


def write_scenario(engine: Engine, rec: Recording, out: Path) -> Path:
    """Write ``out`` (the scenario) and the manual evidence beside it; returns the evidence path.

    A run that made no CLI call has no scenario to write (cli-replay refuses one without steps):
    only the evidence is written, and ``out`` is left alone."""
    meta = engine.runbook.meta
    # cli-replay refuses a scenario naming a step's program outside allowed_commands, compared by
    # base name: the programs recorded are the list (the runbook's own list may hold paths)
    programs = sorted({posixpath.basename(c["match"]["argv"][0]) for c in rec.calls})
    scenario = {
        "meta": {
            "name": meta.name.strip() or f"run {engine.state.run_id}",
            "description": f"recorded from run {engine.state.run_id}",
            "vars": {k: str(v) for k, v in engine.redact.tree(dict(engine.state.vars)).items()},
            "security": {
                "allowed_commands": programs,
                # only patterns that mean the same to fnmatch and to Go's path.Match
                "deny_env_vars": [p for p in meta.governance.deny_env_vars if _PORTABLE_GLOB.fullmatch(p)],
            },
        },
        "steps": rec.calls,
    }
    if rec.calls:
        parse_scenario(scenario)  # what is written is what this runtime, and cli-replay, load
        out.write_text(yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True))
    evidence = {
        step_id: engine.redact.tree(ev.model_dump(mode="json")) for step_id, ev in engine.state.evidence.items()
    }
    path = evidence_path(out)
    path.write_text(yaml.safe_dump(evidence, sort_keys=False, allow_unicode=True))
    return path
