"""File-based runs for the CLI: open a new or existing run folder and build its engine."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from playbooks_contracts.command_policy import Layer, layers_for
from playbooks_contracts.documents import DocumentTooLarge, load_yaml
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.runbook import Runbook, parse_runbook

from .artifacts import ARTIFACTS_FILE, FileRegistry
from .engine import Engine, EngineError, NullRecorder, new_state, refuse_to_run, runbook_digest
from .redaction import SECRET_MASK
from .scenario import Scenario, ScenarioInvalid, parse_scenario
from .state import Mode, RunState
from .store import RunFolder, run_id_for


def evidence_path(scenario_path: Path) -> Path:
    """Manual-step evidence for replay lives beside the scenario: ``<name>.evidence.yaml``."""
    return scenario_path.with_name(scenario_path.stem + ".evidence.yaml")


def load_scenario(path: Path) -> tuple[Scenario, dict[str, Any]]:
    """The scenario at ``path`` and the evidence beside it; :class:`ScenarioInvalid` says why either is refused."""
    scenario = parse_scenario(_read_yaml(path, "scenario"))
    ev = evidence_path(path)
    evidence = _read_yaml(ev, "evidence") if ev.exists() else {}
    if not isinstance(evidence or {}, dict):
        raise ScenarioInvalid(f"{ev}: evidence must be a mapping of step id to evidence")
    return scenario, evidence or {}


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return load_yaml(path.read_text(), what=str(path))  # the API's size and nesting limits
    except FileNotFoundError:
        raise ScenarioInvalid(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioInvalid(f"{path}: cannot read the {what} file: {exc}") from None
    except DocumentTooLarge as exc:
        raise ScenarioInvalid(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ScenarioInvalid(f"{path}: failed to parse {what}: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def load_policy(path: Path) -> OrgPolicy:
    """A policy file (YAML or JSON, an OrgPolicy document) for local runs and validation."""
    try:
        data = load_yaml(path.read_text(), what=str(path))  # the API's size and nesting limits
    except DocumentTooLarge as exc:
        raise EngineError(str(exc)) from None
    try:
        return OrgPolicy.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise EngineError(f"{path}: invalid policy at {where}: {first['msg']}") from None


def policy_layers(runbook: Runbook, policy: OrgPolicy | None) -> list[Layer]:
    """A local run's policy: the policy file (the one place that can grant launchers), then the runbook.
    Without a file, the runbook's own allow-list applies and launchers stay refused."""
    return layers_for(runbook.meta.governance, org=policy, org_source="policy file")


def open_run(
    runbook_path: Path,
    *,
    root: Path,
    mode: Mode,
    scenario_path: Path | None = None,
    vars_: dict[str, str] | None = None,
    key: str | None = None,
    actor: str = "cli",
    policy: OrgPolicy | None = None,
) -> tuple[Engine, RunFolder, bool]:
    """(engine, folder, resumed): a key that names an existing run resumes it instead of starting over."""
    raw = runbook_path.read_text()
    try:
        doc = load_yaml(raw, what=str(runbook_path))
    except DocumentTooLarge as exc:
        raise EngineError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise EngineError(f"{runbook_path}: failed to parse runbook: {_yaml_problem(exc)}") from None
    runbook = parse_runbook(doc)
    if mode == "replay" and scenario_path is None:
        raise EngineError("--mode replay needs --scenario scenario.yaml")
    if mode == "replay" and scenario_path is not None:
        load_scenario(scenario_path)  # refused before a run folder exists, so a refusal leaves nothing behind
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
        return (
            Engine(runbook, state, NullRecorder(), runner=refuse_to_run, layers=policy_layers(runbook, policy)),
            folder,
            False,
        )
    if folder.exists():
        return _engine_for(folder.latest_state(), runbook, raw, folder, policy), folder, True
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
    try:
        engine = _engine_for(state, runbook, raw, folder, policy)
    except BaseException:
        folder.remove()  # nothing ran: a refused run leaves no folder behind
        raise
    engine._emit("run_started", runbook=state.runbook_path, digest=state.runbook_digest, mode=mode, actor=actor)
    engine.snapshot("step-0000.json")
    return engine, folder, False


def resume_run(run_id: str, *, root: Path, policy: OrgPolicy | None = None) -> tuple[Engine, RunFolder]:
    folder = RunFolder(root, run_id)
    if not folder.exists():
        raise EngineError(f"no run {run_id} under {root}")
    state = folder.latest_state()
    raw = Path(state.runbook_path).read_text()
    runbook = parse_runbook(yaml.safe_load(raw))
    return _engine_for(state, runbook, raw, folder, policy), folder


def _engine_for(
    state: RunState, runbook: Runbook, raw: str, folder: RunFolder, policy: OrgPolicy | None = None
) -> Engine:
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
        layers=policy_layers(runbook, policy),
        # local runs share one registry beside the run folders; a replay run made nothing real (none)
        artifacts=FileRegistry(folder.path.parent / ARTIFACTS_FILE) if state.mode == "real" else None,
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
