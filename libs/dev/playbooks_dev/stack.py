"""``playbooks dev``: the whole platform on one machine, from wheels, no Docker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

from playbooks_platform.auth import issue_token
from playbooks_platform.bus import create_topics
from playbooks_platform.migrations import upgrade
from playbooks_platform.progress import progress
from playbooks_platform.service import installed_services, load_spec
from playbooks_platform.settings import EMBEDDED_POSTGRES_PORT, SERVICE_PORTS, PlatformSettings

from .embedded import EmbeddedBroker, EmbeddedPostgres, ensure_database

console = Console()

# A newcomer's first real run should do something, and nothing that changes anything: in dev only,
# the runtime's operator cap and the policy of an org that stored none allow these read-only commands.
# Production sets neither, so there nothing runs until an operator and an org admin say so.
_K8S_READ = {
    "allow": ["get", "describe", "logs", "top", "version", "api-resources", "explain", "events"],
    "deny_flags": ["--kubeconfig", "--token", "--as", "--as-group", "--server", "-s", "--user", "--password"],
}
DEV_ORG_POLICY: dict[str, Any] = {
    "commands": {
        "allowed_commands": ["echo", "date", "uname", "id", "whoami", "hostname", "uptime", "df", "free", "printf"],
        "commands": {
            "kubectl": _K8S_READ,
            "oc": _K8S_READ,
            "helm": {"allow": ["list", "ls", "status", "history", "version"]},
            "systemctl": {"allow": ["status", "is-active", "is-enabled", "is-failed", "list-units", "show"]},
            "journalctl": {"deny_flags": ["--vacuum-size", "--vacuum-time", "--vacuum-files", "--rotate", "--flush"]},
            "dig": {},
            "nslookup": {},
        },
    }
}
DEV_REAL_MODE_COMMANDS = [*DEV_ORG_POLICY["commands"]["allowed_commands"], *DEV_ORG_POLICY["commands"]["commands"]]


def dev_policy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The dev default policy as settings, unless the developer set their own."""
    out = {}
    if "PLAYBOOKS_REAL_MODE_COMMANDS" not in environ:
        out["PLAYBOOKS_REAL_MODE_COMMANDS"] = json.dumps(DEV_REAL_MODE_COMMANDS)
    if "PLAYBOOKS_DEFAULT_ORG_POLICY" not in environ:
        out["PLAYBOOKS_DEFAULT_ORG_POLICY"] = json.dumps(DEV_ORG_POLICY)
    return out


@dataclass
class DevStack:
    settings: PlatformSettings
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def start_infrastructure(self) -> None:
        data = self.settings.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        if "PLAYBOOKS_DATABASE_URL" in os.environ:
            db_url = self.settings.async_database_url
            console.print(f"[bold]PostgreSQL[/]  using {db_url}")
        else:
            self.postgres = EmbeddedPostgres(data / "postgres", EMBEDDED_POSTGRES_PORT)
            if self.postgres.running():
                console.print(f"[bold]PostgreSQL[/]  already running on {EMBEDDED_POSTGRES_PORT}")
                self.postgres = None  # not ours to stop
            else:
                self.postgres.start()
            server = f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_POSTGRES_PORT}/postgres"
            db_url = asyncio.run(ensure_database(server, "playbooks"))
            console.print(f"[bold]PostgreSQL[/]  embedded, {db_url} (data in {data / 'postgres'})")
        if "PLAYBOOKS_KAFKA_BOOTSTRAP" in os.environ:
            bootstrap = self.settings.kafka_bootstrap
            console.print(f"[bold]Kafka[/]       using {bootstrap}")
        else:
            _, port = self.settings.kafka_bootstrap.rsplit(":", 1)
            self.broker = EmbeddedBroker(int(port), data / "broker.log")
            self.broker.start()
            bootstrap = self.broker.bootstrap
            console.print(f"[bold]Kafka[/]       embedded Tansu broker on {bootstrap} (memory storage)")
        self.env = {
            **os.environ,
            "PLAYBOOKS_DATABASE_URL": db_url,
            "PLAYBOOKS_KAFKA_BOOTSTRAP": bootstrap,
            **dev_policy_env(os.environ),
        }
        packages = [s.package for s in map(load_spec, installed_services()) if s.schema]
        with progress(len(packages), "migrating") as done:
            upgrade(packages, db_url, on_done=done)
        created = asyncio.run(create_topics(bootstrap))
        console.print(f"migrations applied for {len(packages)} services; {len(created)} topics created")

    def start_services(self) -> None:
        for name in installed_services():
            port = SERVICE_PORTS.get(name)
            if port is None:
                continue
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "playbooks_platform.cli", "serve", name, "--port", str(port)],
                env=self.env,
                start_new_session=True,
            )
        # The web console: static files calling the services above from the browser.
        self.processes["console"] = subprocess.Popen(
            [sys.executable, "-m", "playbooks_platform.console", "--port", str(SERVICE_PORTS["console"])],
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        for name in self.processes:
            url = f"http://127.0.0.1:{SERVICE_PORTS[name]}/healthz"
            while time.monotonic() < deadline:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited during start-up (code {self.processes[name].returncode})")
                try:
                    if httpx.get(url, timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)

    def print_summary(self) -> None:
        console.rule("playbook platform (dev)")
        for name in self.processes:
            port = SERVICE_PORTS[name]
            if name == "console":
                console.print(f"  {'web console':<22} http://127.0.0.1:{port}   (sign in with the dev token below)")
                continue
            console.print(f"  {name:<22} http://127.0.0.1:{port}   docs: http://127.0.0.1:{port}/docs")
        token = issue_token(self.settings, org_id="dev-org", user_id="dev-user", roles=["admin", "approver"])
        console.print("\n  dev token (org dev-org, roles admin, approver):")
        console.print(f"  {token}\n", soft_wrap=True)
        console.print(f"  real runs may use (dev default policy): {', '.join(DEV_REAL_MODE_COMMANDS)}")
        console.print("  Ctrl-C stops everything.")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.broker:
            self.broker.stop()
        if self.postgres:
            self.postgres.stop()
        console.print("stopped")


def run_dev(settings: PlatformSettings | None = None) -> None:
    stack = DevStack(settings or PlatformSettings())
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start_infrastructure()
        stack.start_services()
        stack.print_summary()
        while not stopping:
            for name, proc in stack.processes.items():
                if proc.poll() is not None and not stopping:
                    console.print(f"[red]{name} exited with code {proc.returncode}[/]")
            time.sleep(0.5)
            stack.processes = {n: p for n, p in stack.processes.items() if p.poll() is None}
    finally:
        stack.stop()
