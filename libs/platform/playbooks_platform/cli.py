"""``playbooks``: the platform's command line."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .settings import SERVICE_PORTS, BusSettings, PlatformSettings

# Every command's --help ends with the exit codes it can return.
EXIT_CODES = "Exit codes: 0 success; 1 failure (the message says why); 2 usage error (a bad option or argument)."

app = typer.Typer(
    help="The governed playbook platform.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
)


class Role(StrEnum):
    """What one process of a service runs."""

    all = "all"
    api = "api"
    worker = "worker"


@app.command(epilog=EXIT_CODES)
def token(
    org: Annotated[str, typer.Option(help="Org (tenant) id the token is for.")],
    user: Annotated[str, typer.Option(help="User id (the 'sub' claim).")] = "dev-user",
    role: Annotated[list[str] | None, typer.Option(help="A role; repeat for more.")] = None,
    ttl: Annotated[int, typer.Option(min=1, help="Lifetime in seconds.")] = 12 * 3600,
) -> None:
    """Print a bearer token the dev stack accepts."""
    from .auth import issue_token

    typer.echo(issue_token(PlatformSettings(), org_id=org, user_id=user, roles=role or ["admin"], ttl_s=ttl))


@app.command(epilog=EXIT_CODES + " 1 also when the database cannot be reached.")
def migrate(
    service: Annotated[
        list[str] | None,
        typer.Argument(help="Services to migrate, e.g. trigger-ingest runbook-runtime (default: every installed one)."),
    ] = None,
) -> None:
    """Apply every service's database migrations (safe to run again)."""
    from .migrations import upgrade
    from .progress import progress

    specs = [_spec(n) for n in (service or _installed())]
    packages = {s.package: s.name for s in specs if s.schema}
    url = PlatformSettings().async_database_url
    try:
        with progress(len(packages), "migrating") as done:
            upgrade(list(packages), url, on_done=lambda package: done(packages[package]))
    except Exception as exc:
        if not _unreachable(exc):
            raise
        typer.echo(f"playbooks migrate: cannot reach the database at {_where(url)}: {_reason(exc)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"migrated: {', '.join(packages.values()) or 'nothing'}")


@app.command(epilog=EXIT_CODES + " 1 also when the broker cannot be reached.")
def topics(
    replication: Annotated[int, typer.Option(min=1, help="Replication factor of topics it creates.")] = 1,
) -> None:
    """Create every topic of the registry (and its dead-letter topic) on the configured broker."""
    from .bus import create_topics

    bootstrap = BusSettings().kafka_bootstrap
    try:
        created = asyncio.run(create_topics(bootstrap, replication=replication))
    except Exception as exc:
        if not _unreachable(exc):
            raise
        typer.echo(f"playbooks topics: cannot reach the broker at {bootstrap}: {_reason(exc)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {len(created)} topics")


@app.command(epilog="Exit codes: 0 written, or up to date with --check; 1 out of date (--check); 2 usage error.")
def contracts(
    out: Annotated[Path, typer.Option(help="Folder to write the contracts into.")] = Path("proto-contracts"),
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 if the folder is not up to date.")] = False,
) -> None:
    """Generate JSON Schemas, the AsyncAPI document, OpenAPI per service and the runbook schema."""
    from .contracts_export import build, drift, write

    files = build()
    if check:
        stale = drift(out, files)
        for rel in stale:
            typer.echo(f"out of date: {out / rel}")
        if stale:
            typer.echo("run `make contracts` and commit the result")
            raise typer.Exit(1)
        typer.echo(f"{len(files)} contract files up to date")
        return
    changed = write(out, files)
    typer.echo(f"{len(files)} contract files in {out}; {len(changed)} changed")


@app.command(epilog="Exit codes: 0 stopped cleanly; 2 usage error, unknown service or a setting refused.")
def serve(
    service: Annotated[
        str, typer.Argument(help=f"The service to run: {', '.join(sorted(set(SERVICE_PORTS) - {'console'}))}.")
    ],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: the service's dev port).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: PLAYBOOKS_LISTEN_HOST or 127.0.0.1).")
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(help="api: HTTP only; worker: consumers only; all: both (default: PLAYBOOKS_ROLE or all)."),
    ] = None,
) -> None:
    """Run one service (its HTTP API and, unless --role api, its consumers)."""
    import uvicorn

    from .service import create_app

    spec = _spec(service)
    # The bound interface is a setting, so the settings refuse the public dev secrets off loopback.
    overrides: dict[str, Any] = {"service_name": spec.name} | ({"role": role.value} if role else {})
    overrides |= {"listen_host": host} if host else {}
    try:
        settings = spec.settings_cls(**overrides)
    except ValueError as exc:
        typer.echo(f"{spec.name}: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        create_app(spec, settings),
        host=settings.listen_host,
        port=port or SERVICE_PORTS.get(service, 8080),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
    )


def _remote() -> None:
    """The commands that talk to a running platform (runs, events, playbooks, exceptions, search, login)."""
    from .remote.commands import register

    register(app, EXIT_CODES)


_remote()


def _installed_commands() -> None:
    """Commands other installed packages add through the ``playbooks.commands`` entry point, each a
    ``register(app, exit_codes)``: ``playbooks dev`` comes from playbooks-dev, which service images leave out."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="playbooks.commands"):
        entry.load()(app, EXIT_CODES)


_installed_commands()


def _installed() -> list[str]:
    from .service import installed_services

    return installed_services()


def _spec(name: str) -> Any:
    """The service's spec, or a usage error naming the installed services."""
    from .service import load_spec

    try:
        return load_spec(name)
    except LookupError:
        raise typer.BadParameter(
            f"no service named {name!r}; installed: {', '.join(_installed())}", param_hint="SERVICE"
        ) from None


def _unreachable(exc: BaseException) -> bool:
    """Whether the failure is the database or broker being away, not a bug worth a traceback."""
    from .transient import is_transient

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) or is_transient(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _where(url: str) -> str:
    """host:port/database of a URL, without the credentials."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


if __name__ == "__main__":
    app()
