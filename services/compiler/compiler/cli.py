"""``runbook compile`` (also ``runbook-compile``): Markdown TSGs to runbook.yaml + mapping.md, files only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from playbooks_contracts.runbook import yaml_language_server_line
from playbooks_platform.errors import Invalid
from playbooks_platform.progress import progress

from .pipeline import CompileResult, compile_document

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _compile(path: Path, *, name: str | None, llm: bool) -> CompileResult:
    from .settings import CompilerSettings

    config = CompilerSettings().llm() if llm else None
    try:
        return asyncio.run(compile_document(path.read_text(), name=name, source_name=path.name, llm=config))
    except Invalid as exc:  # the API's limits (a guide over the size limit)
        err.print(f"error: {path}: {exc.detail}", markup=False)
        raise typer.Exit(2) from None


def _write(result: CompileResult, out: Path, mapping: Path | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml_language_server_line() + result.yaml)  # editors validate it against the schema
    if mapping is not None:
        mapping.parent.mkdir(parents=True, exist_ok=True)
        mapping.write_text(result.mapping_markdown)


def compile_command(
    source: Annotated[Path, typer.Argument(help="A Markdown TSG, or a folder of them (*.md).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="runbook.yaml to write; for a folder, the output folder.")
    ] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="mapping.md to write (single file).")] = None,
    name: Annotated[str | None, typer.Option(help="Runbook name (default: the first heading).")] = None,
    llm: Annotated[
        bool, typer.Option("--llm/--rules", help="Try the configured LLM first (PLAYBOOKS_LLM_URL).")
    ] = False,
) -> None:
    """Compile prose TSGs into governed runbooks with a mapping report; exit 1 if any result is invalid.

    Exit codes: 0 every runbook valid; 1 a runbook is invalid (its problems are printed); 2 usage error
    (no such file, no *.md in the folder).
    """
    if source.is_dir():
        files = sorted(source.glob("*.md"))
        if not files:
            err.print(f"error: no *.md in {source}")
            raise typer.Exit(2)
        target = out or source / "compiled"
        table = Table("TSG", "steps", "cli", "manual", "approvals", "vars", "TODOs", "valid", "ms", title="compiled")
        bad = 0
        with progress(len(files), "compiling") as done:
            results = []
            for f in files:
                results.append((f, _compile(f, name=None, llm=llm)))
                done(f.name)
        for f, result in results:
            _write(result, target / f"{f.stem}.runbook.yaml", target / f"{f.stem}.mapping.md")
            s = result.stats()
            bad += not result.valid
            table.add_row(
                f.name,
                *(str(s[k]) for k in ("steps", "cli", "manual", "approvals", "vars", "todos")),
                "yes" if result.valid else "NO",
                f"{result.elapsed_ms:.1f}",
            )
        console.print(table)
        console.print(f"{len(files)} TSGs -> {target} ({bad} invalid)")
        raise typer.Exit(1 if bad else 0)
    if not source.is_file():
        err.print(f"error: {source} does not exist")
        raise typer.Exit(2)
    result = _compile(source, name=name, llm=llm)
    out = out or source.with_suffix(".runbook.yaml")
    _write(result, out, mapping)
    for d in result.diagnostics:
        if d.level != "info":
            console.print(f"{source}: {d.level}: {d.location + ': ' if d.location else ''}{d.message}", markup=False)
    s = result.stats()
    console.print(
        f"{source} -> {out}{' + ' + str(mapping) if mapping else ''}: {s['steps']} steps "
        f"({s['cli']} cli, {s['manual']} manual), {s['vars']} vars, {s['todos']} TODOs, engine {result.engine}, "
        + ("valid" if result.valid else "INVALID"),
        markup=False,
    )
    if not result.valid:
        raise typer.Exit(1)


app = typer.Typer(help="Compile Markdown TSGs into governed runbooks.", add_completion=False)
app.command(name="compile")(compile_command)
