"""The web console's server: the static files of ``web/console`` and a ``/config.js``.

The console is plain HTML and ES modules that call each service's own HTTP API from the browser
(every service allows the console's origin through CORS). This server only hands out the files and
tells the page where each service lives, so no Node.js is needed to run it.

Run it with ``python -m playbooks_platform.console --port 8000`` (``playbooks dev`` does).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .settings import SERVICE_PORTS

# The services whose APIs the console calls.
CONSOLE_BACKENDS = ("condition-engine", "exception-playbook", "recommendation-agent", "runbook-runtime")


def default_static_dir() -> Path:
    """``web/console`` of the repository this package is installed (editable) from."""
    return Path(__file__).resolve().parents[3] / "web" / "console"


def default_service_urls(host: str = "127.0.0.1") -> dict[str, str]:
    return {name: f"http://{host}:{SERVICE_PORTS[name]}" for name in CONSOLE_BACKENDS}


class ConsoleSettings(BaseSettings):
    """``PLAYBOOKS_CONSOLE_*``: where the files are and where each service is, as the browser sees it."""

    model_config = SettingsConfigDict(env_prefix="PLAYBOOKS_CONSOLE_", extra="ignore", env_file=None)

    static_dir: Path = Field(default_factory=default_static_dir)
    # JSON in the environment, e.g. {"runbook-runtime": "https://runs.example.com"}; merged over the defaults.
    service_urls: dict[str, str] = Field(default_factory=dict)

    def urls(self) -> dict[str, str]:
        return default_service_urls() | self.service_urls


def create_console_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    if not (settings.static_dir / "index.html").is_file():
        raise FileNotFoundError(f"no console at {settings.static_dir} (set PLAYBOOKS_CONSOLE_STATIC_DIR)")
    app = FastAPI(title="console", docs_url=None, redoc_url=None, openapi_url=None)
    config = "export const SERVICES = " + json.dumps(settings.urls(), indent=2, sort_keys=True) + ";\n"

    @app.get("/config.js", include_in_schema=False)
    async def config_js() -> Response:
        return Response(config, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    # Static files and a config built at start: alive is ready (the probes of a deployment ask both).
    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/", StaticFiles(directory=settings.static_dir, html=True), name="console")
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the playbook platform's web console.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=SERVICE_PORTS["console"])
    args = parser.parse_args(argv)
    uvicorn.run(create_console_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
