"""The shared service Dockerfile, checked statically, and its entrypoint and health check run for real."""

from __future__ import annotations

import http.server
import os
import re
import runpy
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import REPO, service_folders

from playbooks_dev.embedded import free_port
from playbooks_platform.cli import app as cli
from playbooks_platform.settings import SERVICE_PORTS

DOCKERFILE = REPO / "deploy/docker/Dockerfile"
HEALTHCHECK_IN_IMAGE = "/usr/local/lib/playbooks-healthcheck.py"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions grouped by build stage, with the global ARG defaults substituted into FROM."""
    args: dict[str, str] = {}
    out: list[list[tuple[str, str]]] = []
    for op, rest in instructions(text):
        if op == "ARG" and not out and "=" in rest:
            key, value = rest.split("=", 1)
            args[key] = value
        elif op == "FROM":
            out.append([(op, re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest))])
        elif out:
            out[-1].append((op, rest))
    return out


def dockerignore_includes(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (the last matching pattern wins)."""
    included = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(f"{regex}(?:/.*)?", path):
            included = negate
    return included


@pytest.fixture(scope="module")
def dockerfile() -> list[list[tuple[str, str]]]:
    return stages(DOCKERFILE.read_text())


def test_multi_stage_slim_python_and_non_root(dockerfile: list[list[tuple[str, str]]]) -> None:
    assert len(dockerfile) >= 2, "build and runtime stages"
    for stage in dockerfile:
        assert stage[0][1].split()[0].startswith("python:3.11-slim"), stage[0]
    final = dockerfile[-1]
    users = [rest for op, rest in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert any(op == "COPY" and rest.startswith("--from=build /opt/venv") for op, rest in final)
    healthchecks = [rest for op, rest in final if op == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and HEALTHCHECK_IN_IMAGE in healthchecks[0]


def test_only_the_libraries_and_the_one_service_are_installed(dockerfile: list[list[tuple[str, str]]]) -> None:
    installed = []
    for op, rest in dockerfile[0]:
        if op == "RUN":
            for command in re.split(r"&&|;", rest):
                words = command.split()
                if words[:2] == ["pip", "install"]:
                    installed += [w for w in words[2:] if w.startswith("./")]
    assert sorted(installed) == ["./libs/contracts", "./libs/platform", "./services/${SERVICE}"]


@pytest.mark.parametrize("service", service_folders())
def test_everything_copied_exists_and_is_in_the_build_context(
    dockerfile: list[list[tuple[str, str]]], service: str
) -> None:
    for stage in dockerfile:
        for op, rest in stage:
            if op != "COPY" or "--from=" in rest:
                continue
            *sources, _target = [w for w in rest.split() if not w.startswith("--")]
            for source in sources:
                rel = source.replace("${SERVICE}", service)
                path = REPO / rel
                assert path.exists(), f"COPY {rel}: not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                kept = (".py", ".toml", ".sh", ".mako", ".lock")
                wanted = [f.relative_to(REPO).as_posix() for f in files if f.suffix in kept]
                assert wanted, rel
                excluded = [f for f in wanted if "__pycache__" not in f and not dockerignore_includes(f)]
                assert not excluded, f".dockerignore leaves out {excluded[:5]}"
    assert not dockerignore_includes(".venv/bin/python") and not dockerignore_includes(".data/postgres/PG_VERSION")


@pytest.mark.parametrize("service", service_folders())
def test_each_service_package_registers_itself_and_depends_on_no_other_service(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]
    assert service in project["entry-points"]["playbooks.services"], "`playbooks serve NAME` finds it by this"
    others = {
        tomllib.loads((REPO / "services" / s / "pyproject.toml").read_text())["project"]["name"]
        for s in service_folders()
    }
    deps = {re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0] for d in project.get("dependencies", [])}
    assert not deps & (others - {project["name"]}), "a service image installs one service only"
    assert service in SERVICE_PORTS, "its container port comes from SERVICE_PORTS"


def test_start_commands_exist_in_the_cli() -> None:
    platform = tomllib.loads((REPO / "libs/platform/pyproject.toml").read_text())["project"]
    assert platform["scripts"]["playbooks"] == "playbooks_platform.cli:app"
    commands = {c.name or c.callback.__name__ for c in cli.registered_commands}  # type: ignore[union-attr]
    assert {"serve", "migrate", "topics"} <= commands
    entrypoint = (REPO / "deploy/docker/entrypoint.sh").read_text()
    assert 'playbooks migrate "$service"' in entrypoint and 'exec playbooks serve "$service"' in entrypoint
    final = stages(DOCKERFILE.read_text())[-1]
    [entry] = [rest for op, rest in final if op == "ENTRYPOINT"]
    copied = {rest.split()[-1] for op, rest in final if op == "COPY"}
    assert any(target.endswith("/" + entry.strip('[]"')) for target in copied), "the entrypoint is copied in"


def _run_entrypoint(tmp_path: Path, **env: str) -> list[str]:
    """Run entrypoint.sh with a `playbooks` stand-in on PATH that records how it was called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    fake = bin_dir / "playbooks"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    subprocess.run(["sh", str(REPO / "deploy/docker/entrypoint.sh"), "--role", "worker"], env=environ, check=True)
    return log.read_text().splitlines()


def test_entrypoint_migrates_then_serves_on_all_interfaces(tmp_path: Path) -> None:
    calls = _run_entrypoint(tmp_path, PLAYBOOKS_SERVICE_NAME="trigger-ingest")
    assert calls == ["migrate trigger-ingest", "serve trigger-ingest --host 0.0.0.0 --role worker"]


def test_entrypoint_skips_migrations_when_an_init_container_ran_them(tmp_path: Path) -> None:
    calls = _run_entrypoint(tmp_path, PLAYBOOKS_SERVICE_NAME="compiler", PLAYBOOKS_MIGRATE_ON_START="false")
    assert calls == ["serve compiler --host 0.0.0.0 --role worker"]


@pytest.fixture
def healthz_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _healthcheck(monkeypatch: pytest.MonkeyPatch, port: int) -> int:
    monkeypatch.setitem(SERVICE_PORTS, "trigger-ingest", port)
    monkeypatch.setitem(os.environ, "PLAYBOOKS_SERVICE_NAME", "trigger-ingest")
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "deploy/docker/healthcheck.py"))
    return int(exited.value.code or 0)


def test_healthcheck_asks_the_service_port_for_healthz(monkeypatch: pytest.MonkeyPatch, healthz_server: int) -> None:
    assert _healthcheck(monkeypatch, healthz_server) == 0
    assert _healthcheck(monkeypatch, free_port()) == 1  # nothing listening: unhealthy


def test_the_image_holds_no_secret(dockerfile: list[list[tuple[str, str]]]) -> None:
    secret = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|CREDENTIAL", re.IGNORECASE)
    for stage in dockerfile:
        for op, rest in stage:
            if op in ("ENV", "ARG"):
                names = re.findall(r"(\w+)=", rest) or rest.split()[:1]
                assert not [n for n in names if secret.search(n)], f"{op} {rest}: secrets are files at run time"
    assert not dockerignore_includes("deploy/compose/secrets/jwt_secret"), "generated secrets stay out of the context"


def test_the_console_image_copies_only_what_exists_and_runs_its_server_unprivileged() -> None:
    console = stages((REPO / "deploy/docker/console.Dockerfile").read_text())
    assert [s[0][1].split()[0] for s in console] == ["python:3.11-slim-bookworm"] * 2
    runtime = dict(console[-1])
    assert runtime["USER"] == "10001:10001"
    assert "playbooks_platform.console" in runtime["ENTRYPOINT"] and '"0.0.0.0"' in runtime["ENTRYPOINT"]
    assert HEALTHCHECK_IN_IMAGE in runtime["HEALTHCHECK"]
    assert "PLAYBOOKS_SERVICE_NAME=console" in runtime["ENV"] and SERVICE_PORTS["console"] == 8000
    for stage in console:
        for op, rest in stage:
            if op != "COPY" or "--from=" in rest:
                continue
            *sources, _target = [w for w in rest.split() if not w.startswith("--")]
            for source in sources:
                path = REPO / source
                assert path.exists(), f"COPY {source}: not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                assert files and all(
                    dockerignore_includes(f.relative_to(REPO).as_posix())
                    for f in files
                    # build artefacts of a local install, which .dockerignore leaves out on purpose
                    if not any(part in f.as_posix() for part in ("__pycache__", ".egg-info/"))
                ), source
    # The static files the image serves include the page and its config-reading module.
    assert dockerignore_includes("web/console/index.html") and dockerignore_includes("web/console/js/api.js")
