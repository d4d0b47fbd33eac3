"""``runbook``: validate, exec, debug, verify, resume, record and replay-verify; files only, no service.

Other packages may add subcommands (e.g. the compiler's ``compile``) through the
``runbook.commands`` entry-point group: each entry point is a typer command function.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, cast

import typer
import yaml
from rich.console import Console
from rich.table import Table

from playbooks_contracts.documents import DocumentTooLarge, load_yaml
from playbooks_contracts.policy import OrgPolicy
from playbooks_contracts.runbook import (
    RUNBOOK_SCHEMA_ID,
    RunbookInvalid,
    parse_runbook,
    runbook_json_schema,
    validate_runbook,
    yaml_language_server_line,
)

from .debugger import Debugger
from .engine import Engine, EngineError, verify
from .governance import GovernanceError, refused_commands
from .recording import attach_recording, write_scenario
from .scenario import Replayer
from .session import load_policy, load_scenario, open_run, policy_layers, resume_run
from .state import Mode
from .store import RunFolder

# Every command's --help ends with the exit codes it returns: scripts and CI branch on them.
EXIT_RUN = (
    "Exit codes: 0 the run passed; 1 the run failed; 2 usage error or the runbook/policy is refused before "
    "running; 3 a manual step waits for evidence or an approval."
)
EXIT_CHECK = "Exit codes: 0 valid; 1 problems found (each printed with its location); 2 usage error or unreadable file."
EXIT_PLAIN = "Exit codes: 0 success; 2 usage error or unreadable file."

app = typer.Typer(
    help="Governed runbooks: validate, execute, debug, replay, verify.",
    epilog="Each command's --help lists its exit codes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RootOpt = Annotated[Path, typer.Option("--root", help="Folder holding runs/ (the run folders).")]
RunbookArg = Annotated[Path, typer.Argument(help="The runbook file (YAML or JSON, runbook/v0).")]
RunIdArg = Annotated[str, typer.Argument(help="A run id, as `runbook exec` printed it (a folder under --root runs/).")]


class ExecMode(StrEnum):
    """How a runbook's CLI steps run."""

    real = "real"
    replay = "replay"
    dry_run = "dry-run"


class DebugMode(StrEnum):
    real = "real"
    replay = "replay"


VarOpt = Annotated[list[str] | None, typer.Option("--var", help="k=v, repeatable.")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="A policy file (YAML/JSON OrgPolicy) the runbook may only narrow; the one place that can grant "
        "launchers. Without it the runbook's own allow-list applies and launchers are refused.",
    ),
]
DEFAULT_ROOT = Path(".runbook")


def _policy(path: Path | None) -> OrgPolicy | None:
    try:
        return load_policy(path) if path is not None else None
    except (OSError, yaml.YAMLError, EngineError) as exc:
        raise _fail(str(exc)) from None


def _vars(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--var {pair!r}: use k=v")
        out[key] = value
    return out


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def _unmet(engine: Engine) -> list[str]:
    """Scenario steps a finished replay called fewer times than their ``calls.min`` (cli-replay's
    ``exec`` verifies this when its command ends, and fails the same way)."""
    if engine.replayer is None or engine.state.status != "passed":
        return []
    return [
        f"scenario {row['step']} {row['argv']!r}: called {row['calls']} time(s), needs at least {row['min']}"
        for row in engine.replayer.report()
        if not row["ok"]
    ]


def _report(engine: Engine, folder: RunFolder) -> int:
    state = engine.state
    for r in state.history:
        mark = "[green]passed[/green]" if r.status == "passed" else f"[red]{r.status}[/red]"
        console.print(f"{r.step_id}: {mark}" + (f" - {r.error}" if r.error else ""), markup=True)
    for a in engine.redact.tree([a.model_dump(mode="json") for a in state.artifacts]):
        links = f" <- {', '.join(a['links'])}" if a["links"] else ""
        line = f"artifact {a['name']} {a['signature']}: {a['status']} (step {a['step_id']}, run {a['run_id']}){links}"
        console.print(line, markup=False)
    step = engine.current()
    if state.status == "waiting" and step is not None:
        missing = engine.waiting_for(step)
        console.print(f"run {state.run_id} waits at {step.id}: {', '.join(missing)}", markup=False)
        for p in state.checkpoint_plan or []:
            detail = " ".join(p["argv"]) if "argv" in p else "; ".join(p.get("pauses_for", []))
            console.print(f"  then {p['step_id']} ({p['type']}): {detail} [{p['verdict']}]", markup=False)
        how = " (confirm --as NAME)" if step.checkpoint and state.checkpoint_plan is not None else ""
        console.print(f"continue with: runbook debug --run {state.run_id}{how}")
    console.print(f"run {state.run_id}: {state.status} (trace: {folder.trace_path})")
    unmet = _unmet(engine)
    for line in unmet:
        console.print(line, markup=False)
    if unmet:
        console.print("the runbook passed, but the scenario was not played to the end (see runbook replay-verify)")
        return 1
    return {"passed": 0, "waiting": 3}.get(state.status, 1)


@app.command(epilog=EXIT_CHECK)
def validate(path: RunbookArg, policy: PolicyOpt = None) -> None:
    """Print every problem of a runbook with its location, every command the policy refuses; exit 1 if any."""
    org = _policy(policy)
    try:
        data = load_yaml(path.read_text(), what=str(path))  # the API's size and nesting limits
    except DocumentTooLarge as exc:
        raise _fail(str(exc)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(f"{path}: {exc}") from None
    problems = [(p.location, p.message) for p in validate_runbook(data)]
    if not problems:
        runbook = parse_runbook(data)
        problems = refused_commands(runbook, policy_layers(runbook, org))
    for location, message in problems:
        console.print(f"{path}: {location}: {message}", markup=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"{path}: valid")


@app.command("exec", epilog=EXIT_RUN)
def exec_(
    path: RunbookArg,
    mode: Annotated[
        ExecMode,
        typer.Option(help="real: run the commands; replay: answer them from --scenario; dry-run: print the plan."),
    ] = ExecMode.real,
    scenario: Annotated[Path | None, typer.Option(help="cli-replay scenario (replay mode).")] = None,
    var: VarOpt = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key: the same key resumes the same run.")] = None,
    record: Annotated[Path | None, typer.Option(help="Also write the real calls as a scenario here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Dry-run: print the plan as JSON.")] = False,
    root: RootOpt = DEFAULT_ROOT,
    policy: PolicyOpt = None,
) -> None:
    """Execute a runbook until it finishes, fails, or a manual step waits for evidence (exit 3)."""
    mode = ExecMode(mode)  # also when called from `record` with a plain string
    org = _policy(policy)
    try:
        engine, folder, resumed = open_run(
            path,
            root=root,
            mode=cast(Mode, mode.value),
            scenario_path=scenario,
            vars_=_vars(var),
            key=key,
            policy=org,
        )
    except (RunbookInvalid, EngineError, GovernanceError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if mode is ExecMode.dry_run:
        plan = engine.redact.tree(engine.plan())  # rendered argv would show secret vars
        if as_json:
            typer.echo(json.dumps(plan, indent=2))
        else:
            _print_plan(engine, plan)
        return
    if resumed:
        console.print(f"resuming run {engine.state.run_id} at step {engine.state.current_step_index + 1}")
    rec = attach_recording(engine) if record and mode is ExecMode.real else None
    engine.continue_()
    folder.close()  # on disk once the command returns (never an fsync per record)
    if rec is not None and record is not None:
        evidence = write_scenario(engine, rec, record)
        if rec.calls:
            console.print(f"scenario written to {record}")
        else:
            console.print(f"no CLI call was made, so no scenario was written (evidence: {evidence})")
    raise typer.Exit(_report(engine, folder))


def _print_plan(engine: Engine, plan: list[dict[str, Any]]) -> None:
    table = Table("step", "type", "argv / pauses for", "governance", title=f"dry-run of {engine.runbook.meta.name}")
    for p in plan:
        detail = " ".join(p["argv"]) if "argv" in p else "; ".join(p.get("pauses_for", []))
        table.add_row(p["step_id"], p["type"], detail, p["verdict"])
    console.print(table)


@app.command(epilog=EXIT_RUN)
def record(
    path: RunbookArg,
    out: Annotated[Path, typer.Option("--out", help="Scenario file to write.")],
    var: VarOpt = None,
    root: RootOpt = DEFAULT_ROOT,
    policy: PolicyOpt = None,
) -> None:
    """Run for real and write the CLI calls as a cli-replay scenario (and manual evidence beside it)."""
    exec_(
        path, mode=ExecMode.real, scenario=None, var=var, key=None, record=out, as_json=False, root=root, policy=policy
    )


@app.command(epilog=EXIT_RUN)
def debug(
    path: Annotated[Path | None, typer.Argument(help="The runbook file to start (or attach with --run).")] = None,
    mode: Annotated[DebugMode, typer.Option(help="real: run the commands; replay: answer them from --scenario.")] = (
        DebugMode.real
    ),
    scenario: Annotated[Path | None, typer.Option(help="cli-replay scenario (replay mode).")] = None,
    var: VarOpt = None,
    run: Annotated[str | None, typer.Option("--run", help="Attach to an existing run instead.")] = None,
    root: RootOpt = DEFAULT_ROOT,
    policy: PolicyOpt = None,
) -> None:
    """Step through a runbook at a prompt (type help)."""
    org = _policy(policy)
    try:
        if run:
            engine, folder = resume_run(run, root=root, policy=org)
        elif path is not None:
            engine, folder, _ = open_run(
                path,
                root=root,
                mode=cast(Mode, DebugMode(mode).value),
                scenario_path=scenario,
                vars_=_vars(var),
                policy=org,
            )
        else:
            raise EngineError("give a runbook path (with --mode real|replay) or --run RUN_ID")
    except (RunbookInvalid, EngineError, GovernanceError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"run {engine.state.run_id} ({engine.state.mode}); type help")
    try:
        code = Debugger(engine, lambda s: console.print(s, markup=False)).loop(sys.stdin)
    finally:
        folder.close()
    raise typer.Exit(code)


@app.command("verify", epilog=EXIT_CHECK)
def verify_(run_id: RunIdArg, root: RootOpt = DEFAULT_ROOT) -> None:
    """Check every required step passed, manual evidence is present, assertions held; exit 1 naming gaps."""
    try:
        engine, _ = resume_run(run_id, root=root)
    except (EngineError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    problems = verify(engine.runbook, engine.state)
    for p in problems:
        console.print(p, markup=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"run {run_id}: every required step satisfied")


@app.command(epilog=EXIT_RUN)
def resume(run_id: RunIdArg, root: RootOpt = DEFAULT_ROOT, policy: PolicyOpt = None) -> None:
    """Continue a run from its last snapshot."""
    org = _policy(policy)
    try:
        engine, folder = resume_run(run_id, root=root, policy=org)
    except (EngineError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    engine.continue_()
    folder.close()
    raise typer.Exit(_report(engine, folder))


@app.command("replay-verify", epilog=EXIT_CHECK)
def replay_verify(run_id: RunIdArg, root: RootOpt = DEFAULT_ROOT) -> None:
    """Report every scenario step's call count against its min/max for a replay run."""
    try:
        engine, _ = resume_run(run_id, root=root)
    except (EngineError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if engine.replayer is None:
        raise _fail(f"run {run_id} is not a replay run")
    rows = engine.replayer.report()
    for row in rows:
        verdict = "ok" if row["ok"] else "FAIL"
        console.print(
            f"{verdict} {row['step']}: {json.dumps(row['argv'])} "
            f"calls={row['calls']} (min {row['min']}, max {row['max']})",
            markup=False,
        )
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


@app.command(epilog=EXIT_CHECK)
def scenario_check(path: Annotated[Path, typer.Argument(help="A cli-replay scenario file (YAML).")]) -> None:
    """Validate a cli-replay scenario file."""
    try:
        scenario, _ = load_scenario(path)
    except Exception as exc:  # pydantic and YAML errors alike are reported, not raised
        raise _fail(f"{path}: {exc}", 1) from None
    Replayer(scenario)
    console.print(f"{path}: valid scenario")


@app.command(epilog=EXIT_PLAIN)
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the schema to this file instead of printing it.")
    ] = None,
    line: Annotated[
        bool,
        typer.Option(
            "--line", help="Print the '# yaml-language-server: $schema=...' line compiled runbooks start with."
        ),
    ] = False,
) -> None:
    """Print the runbook JSON Schema (its $id is where a running platform serves it), for editors and CI."""
    if line:
        typer.echo(yaml_language_server_line(), nl=False)
        return
    text = json.dumps(runbook_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text)
    console.print(f"{out}: runbook schema ({RUNBOOK_SCHEMA_ID}); map it to *.runbook.yaml in your editor", markup=False)


for _ep in entry_points(group="runbook.commands"):
    app.command(_ep.name)(_ep.load())


if __name__ == "__main__":
    app()
