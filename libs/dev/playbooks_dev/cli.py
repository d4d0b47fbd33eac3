"""``playbooks dev``, added to the platform's command line through the ``playbooks.commands`` entry point."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class LogFormat(StrEnum):
    auto = "auto"
    console = "console"
    json = "json"


def register(app: typer.Typer, exit_codes: str) -> None:
    """Add ``dev`` to ``app``; the stack itself is imported only when the command runs."""

    @app.command(epilog=exit_codes)
    def dev(
        log_format: Annotated[
            LogFormat,
            typer.Option(
                "--log-format",
                help="Service logs: readable lines (console) or JSON lines; auto is console at a terminal, "
                "JSON otherwise.",
            ),
        ] = LogFormat.auto,
    ) -> None:
        """Run the whole platform on the embedded stack (what `make dev` runs)."""
        import os

        from .stack import run_dev

        if log_format is not LogFormat.auto:  # the services inherit it; auto lets each look at its own stderr
            os.environ["PLAYBOOKS_LOG_JSON"] = "true" if log_format is LogFormat.json else "false"
        run_dev()
