"""File-based runs for the CLI: open a new or existing run folder and build its engine."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import yaml

from playbooks_contracts.runbook import Runbook, parse_runbook

from .engine import Engine, EngineError, NullRecorder, new_state, runbook_digest
from .redaction import SECRET_MASK
from .scenario import Scenario
from .state import Mode, RunState
from .store import RunFolder, run_id_for


def evidence_path(scenario_path: Path) -> Path:
    """Manual-step evidence for replay lives beside the scenario: ``<name>.evidence.yaml``."""
    return scenario_path.with_name(scenario_path.stem + ".evidence.yaml")


def load_scenario(path: Path) -> tuple[Scenario, dict[str, Any]]:
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    ev = evidence_path(path)
    return scenario, (yaml.safe_load(ev.read_text()) or {}) if ev.exists() else {}


def open_run(
    runbook_path: Path,
    *,
    root: Path,
    mode: Mode,
    scenario_path: Path | None = None,
    vars_: dict[str, str] | None = None,
    key: str | None = None,
    actor: str = "cli",
) -> tuple[Engine, RunFolder, bool]:
    """(engine, folder, resumed): a key that names an existing run resumes it instead of starting over."""
    raw = runbook_path.read_text()
    runbook = parse_runbook(yaml.safe_load(raw))
    if mode == "replay" and scenario_path is None:
        raise EngineError("--mode replay needs --scenario scenario.yaml")
    run_id = run_id_for(key) if key else str(uuid.uuid4())
    folder = RunFolder(root, run_id)
    if mode == "dry-run":
        state = new_state(
            runbook,
            run_id=run_id,
            runbook_path=str(runbook_path),
            digest=runbook_digest(raw),
            mode=mode,
            actor=actor,
            vars_=vars_,
        )
        return Engine(runbook, state, NullRecorder(), runner=_dry), folder, False
    if folder.exists():
        return _engine_for(folder.latest_state(), runbook, raw, folder), folder, True
    state = new_state(
        runbook,
        run_id=run_id,
        runbook_path=str(runbook_path.resolve()),
        digest=runbook_digest(raw),
        mode=mode,
        actor=actor,
        vars_=vars_,
    )
    state.scenario_path = str(scenario_path.resolve()) if scenario_path else None
    folder.create()
    engine = _engine_for(state, runbook, raw, folder)
    engine._emit("run_started", runbook=state.runbook_path, digest=state.runbook_digest, mode=mode, actor=actor)
    engine.snapshot("step-0000.json")
    return engine, folder, False


def resume_run(run_id: str, *, root: Path) -> tuple[Engine, RunFolder]:
    folder = RunFolder(root, run_id)
    if not folder.exists():
        raise EngineError(f"no run {run_id} under {root}")
    state = folder.latest_state()
    raw = Path(state.runbook_path).read_text()
    runbook = parse_runbook(yaml.safe_load(raw))
    return _engine_for(state, runbook, raw, folder), folder


def _engine_for(state: RunState, runbook: Runbook, raw: str, folder: RunFolder) -> Engine:
    if runbook_digest(raw) != state.runbook_digest:
        raise EngineError(f"the runbook changed since run {state.run_id} started ({state.runbook_path})")
    _restore_secrets(state, runbook)
    scenario: Scenario | None = None
    evidence: dict[str, Any] = {}
    if state.mode == "replay":
        if not state.scenario_path:
            raise EngineError("this replay run has no scenario")
        scenario, evidence = load_scenario(Path(state.scenario_path))
    return Engine(
        runbook,
        state,
        folder,
        scenario=scenario,
        scenario_dir=Path(state.scenario_path).parent if state.scenario_path else None,
        replay_evidence=evidence,
    )


def _restore_secrets(state: RunState, runbook: Runbook) -> None:
    """Snapshots never hold a secret var's value: a resumed run takes it from the environment again."""
    for name in sorted(runbook.meta.secret_vars()):
        if state.vars.get(name) != SECRET_MASK:
            continue
        if name not in os.environ:
            raise EngineError(
                f"var {name!r} is secret and snapshots do not keep it: set it in the environment as {name} to resume"
            )
        state.vars[name] = os.environ[name]


def _dry(argv: list[str], stdin: str | None, timeout: float) -> Any:
    raise EngineError("dry-run executes nothing")
