"""``playbooks``: the platform's command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from .settings import SERVICE_PORTS, BusSettings, PlatformSettings

app = typer.Typer(help="The governed playbook platform.", no_args_is_help=True)


@app.command()
def dev() -> None:
    """Run the whole platform on the embedded stack (what `make dev` runs)."""
    from .dev import run_dev

    run_dev()


@app.command()
def token(
    org: Annotated[str, typer.Option(help="Org (tenant) id the token is for.")],
    user: Annotated[str, typer.Option(help="User id (the 'sub' claim).")] = "dev-user",
    role: Annotated[list[str] | None, typer.Option(help="A role; repeat for more.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 12 * 3600,
) -> None:
    """Print a bearer token the dev stack accepts."""
    from .auth import issue_token

    typer.echo(issue_token(PlatformSettings(), org_id=org, user_id=user, roles=role or ["admin"], ttl_s=ttl))


@app.command()
def migrate(
    service: Annotated[list[str] | None, typer.Argument(help="Services to migrate (default: all).")] = None,
) -> None:
    """Apply every service's database migrations."""
    from .migrations import upgrade
    from .service import installed_services, load_spec

    specs = [load_spec(n) for n in (service or installed_services())]
    upgrade([s.package for s in specs if s.schema], PlatformSettings().async_database_url)
    typer.echo(f"migrated: {', '.join(s.name for s in specs if s.schema) or 'nothing'}")


@app.command()
def topics(
    replication: Annotated[int, typer.Option(min=1, help="Replication factor of topics it creates.")] = 1,
) -> None:
    """Create every topic of the registry (and its dead-letter topic) on the configured broker."""
    from .bus import create_topics

    created = asyncio.run(create_topics(BusSettings().kafka_bootstrap, replication=replication))
    typer.echo(f"created {len(created)} topics")


@app.command()
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


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="Service name, e.g. trigger-ingest.")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: the service's dev port).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: PLAYBOOKS_LISTEN_HOST or 127.0.0.1).")
    ] = None,
    role: Annotated[str | None, typer.Option(help="all | api | worker (default: PLAYBOOKS_ROLE or all).")] = None,
) -> None:
    """Run one service (its HTTP API and, unless --role api, its consumers)."""
    import uvicorn

    from .service import create_app, load_spec

    spec = load_spec(service)
    # The bound interface is a setting, so the settings refuse the public dev secrets off loopback.
    overrides: dict[str, Any] = {"service_name": spec.name} | ({"role": role} if role else {})
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


if __name__ == "__main__":
    app()
