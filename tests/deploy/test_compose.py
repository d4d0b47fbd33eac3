"""docker-compose.yml, checked statically (no Docker engine here): schema, services, ports, health, wiring,
secrets as files, hardening and the runner that holds no platform secret (checkov has no compose framework)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import REPO, known_settings, service_folders

from playbooks_platform.settings import SERVICE_PORTS
from runbook_runtime.runner import read_token, read_token_sha256, token_sha256

INFRA_IMAGES = {
    "kafka": "apache/kafka:",
    "postgres": "postgres:",
    "qdrant": "qdrant/qdrant:",
    "otel-collector": "otel/opentelemetry-collector",
    "jaeger": "jaegertracing/",
}
SIX = [
    "trigger-ingest",
    "condition-engine",
    "exception-playbook",
    "recommendation-agent",
    "runbook-runtime",
    "compiler",
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


CONSOLE = "console"


def app_services(compose: dict[str, Any]) -> dict[str, Any]:
    """The platform's services: those built from the shared Dockerfile and serving HTTP (not the console's files)."""
    return {n: s for n, s in compose["services"].items() if "build" in s and n in SERVICE_PORTS and n != CONSOLE}


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(schema_file.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_infrastructure_uses_the_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, image in INFRA_IMAGES.items():
        assert services[name]["image"].startswith(image), name
        assert ":" in services[name]["image"].split("/")[-1], f"{name} image is not pinned to a version"
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "Kafka must run in KRaft mode"
    assert not any("zookeeper" in n for n in services)


def test_every_service_is_there_with_its_port_build_and_health_check(
    compose: dict[str, Any], services_with_ports: list[str]
) -> None:
    apps = app_services(compose)
    assert set(SIX) <= set(apps), f"missing from compose: {set(SIX) - set(apps)}"
    assert set(services_with_ports) <= set(apps), (
        f"services without a compose entry: {set(services_with_ports) - set(apps)}"
    )
    for name, svc in apps.items():
        port = SERVICE_PORTS[name]
        assert svc["ports"] == [f"127.0.0.1:{port}:{port}"], name
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert svc["build"]["args"]["SERVICE"] == name, name
        assert svc["image"].split(":")[0] == f"playbooks/{name}", name
        test = svc["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and "/usr/local/lib/playbooks-healthcheck.py" in test, name


def test_each_service_built_is_a_service_of_the_repository(compose: dict[str, Any]) -> None:
    folders = set(service_folders())
    for name, svc in compose["services"].items():
        if "build" in svc and name != CONSOLE:
            assert svc["build"]["args"]["SERVICE"] in folders, (
                f"{name} builds services/{svc['build']['args']['SERVICE']}"
            )


def test_dependencies_wait_for_healthy_infrastructure_and_topics(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in app_services(compose).items():
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["topics"]["condition"] == "service_completed_successfully", name
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep, how in deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps):
            assert dep in services, f"{name} depends on unknown {dep}"
            if how.get("condition") == "service_healthy":
                check = services[dep].get("healthcheck", {"disable": True})
                assert not check.get("disable"), f"{name} waits for {dep} to be healthy, which has no check"
    assert services["recommendation-agent"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert services["topics"]["entrypoint"] == ["playbooks", "topics"]


def test_environment_names_real_settings_and_real_hosts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in app_services(compose).items():
        env = svc["environment"]
        unknown = {k for k in env if k.startswith("PLAYBOOKS_")} - known_settings(name)
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
        assert env["PLAYBOOKS_KAFKA_BOOTSTRAP"].split(":")[0] in services
        assert env["PLAYBOOKS_DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert services["recommendation-agent"]["environment"]["PLAYBOOKS_QDRANT_URL"] == "http://qdrant:6333"
    kafka = services["kafka"]["environment"]
    bootstrap = services["trigger-ingest"]["environment"]["PLAYBOOKS_KAFKA_BOOTSTRAP"]
    assert f"//{bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"], "services must use an advertised listener"


def test_collector_config_is_mounted_and_exports_traces_to_jaeger(compose: dict[str, Any]) -> None:
    collector = compose["services"]["otel-collector"]
    source, target = collector["volumes"][0].split(":")[:2]
    config_path = REPO / Path(source)
    assert config_path.is_file()
    assert f"--config={target}" in collector["command"]
    config = yaml.safe_load(config_path.read_text())
    traces = config["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"] and traces["exporters"] == ["otlp"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert config["exporters"]["otlp"]["endpoint"] == "${env:TRACES_OTLP_ENDPOINT}"
    assert collector["environment"]["TRACES_OTLP_ENDPOINT"] == "jaeger:4317"


# Names that hold a secret when they are set directly (their *_FILE form names a file instead).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|CREDENTIAL", re.IGNORECASE)
PLATFORM_SECRETS = {"database_url", "jwt_secret", "signing_secret", "postgres_password"}
INFRA_CAPABILITIES = {"postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}}


def built(compose: dict[str, Any]) -> dict[str, Any]:
    """Every container from the platform image: the six services, the runner and the topic job."""
    return {n: s for n, s in compose["services"].items() if "build" in s}


def test_no_secret_is_in_any_environment(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        env = svc.get("environment", {})
        for key, value in env.items():
            if key.endswith("_FILE"):
                assert str(value).startswith("/run/secrets/"), f"{name}: {key} names {value}, not a mounted secret"
                continue
            assert not SECRET_NAME.search(key), f"{name}: {key} puts a secret in the environment; use {key}_FILE"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), f"{name}: {key} carries credentials"


def test_every_secret_is_a_file_the_container_mounts(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert set(secret) == {"file"} and secret["file"] == f"deploy/compose/secrets/{name}", name
    for name, svc in compose["services"].items():
        mounted = set(svc.get("secrets", []))
        assert mounted <= set(declared), f"{name} mounts undeclared secrets {mounted - set(declared)}"
        for key, value in svc.get("environment", {}).items():
            if key.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {key} names a secret it does not mount"
    assert (REPO / ".gitignore").read_text().count("deploy/compose/secrets/") == 1, "generated secrets stay out of git"


def test_make_secrets_writes_every_declared_secret_once(compose: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "make-secrets.sh"
    shutil.copy(REPO / "deploy/compose/make-secrets.sh", script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    folder = tmp_path / "secrets"
    assert {p.name for p in folder.iterdir()} == set(compose["secrets"])
    assert folder.stat().st_mode & 0o777 == 0o700, "other host users cannot list or read them"
    values = {p.name: p.read_text().strip() for p in folder.iterdir()}
    assert all(len(v.encode()) >= 32 for v in values.values()), "every secret has at least 32 bytes"
    assert len(set(values.values())) == len(values)
    assert f":{values['postgres_password']}@postgres:5432/" in values["database_url"]
    # the runner's digest is of the token as runbook-runtime sends it (read_token strips the newline)
    token = read_token(folder / "runner_token")
    assert token and values["runner_token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert read_token_sha256(folder / "runner_token_sha256") == token_sha256(token)
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    assert {p.name: p.read_text().strip() for p in folder.iterdir()} == values, "a second run changes nothing"
    (folder / "runner_token").unlink()
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    rotated = read_token(folder / "runner_token")
    assert rotated and rotated != token, "deleting the token rotates it"
    assert read_token_sha256(folder / "runner_token_sha256") == token_sha256(rotated), "and its digest follows"


def test_platform_containers_run_hardened(compose: dict[str, Any]) -> None:
    for name, svc in built(compose).items():
        assert svc["user"] == "10001:10001", name
        assert svc["read_only"] is True, f"{name}: root filesystem must be read-only"
        assert "/tmp" in svc["tmpfs"], f"{name}: /tmp in memory, since the root filesystem is read-only"
        assert svc["cap_drop"] == ["ALL"] and "cap_add" not in svc, name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["pids_limit"] > 0, name
        if name != "topics":
            limits = svc["deploy"]["resources"]["limits"]
            assert limits["cpus"] and limits["memory"], name


def test_infrastructure_drops_what_it_does_not_need(compose: dict[str, Any]) -> None:
    for name in INFRA_IMAGES:
        svc = compose["services"][name]
        assert svc["cap_drop"] == ["ALL"], name
        assert set(svc.get("cap_add", [])) == INFRA_CAPABILITIES.get(name, set()), name
        assert "no-new-privileges:true" in svc["security_opt"], name
    env = compose["services"]["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in env and env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_real_steps_run_in_a_runner_that_holds_no_platform_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    runner = services["runbook-runner"]
    assert runner["entrypoint"] == ["python", "-m", "runbook_runtime.runner", "--host", "0.0.0.0", "--port", "8010"]
    assert runner["build"]["args"]["SERVICE"] == "runbook-runtime"
    # Steps run as the runner's user and can read what it mounts: only the token's digest, which calls nothing.
    assert runner["secrets"] == ["runner_token_sha256"], "the runner mounts no platform secret and not the token"
    assert runner["environment"]["PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE"] == "/run/secrets/runner_token_sha256"
    assert not {k for k in runner["environment"] if k.startswith("PLAYBOOKS_")} - {"PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE"}
    assert "ports" not in runner and "depends_on" not in runner
    assert "8010" in " ".join(runner["healthcheck"]["test"])
    runtime = services["runbook-runtime"]
    assert runtime["environment"]["PLAYBOOKS_RUNNER_URL"] == "http://runbook-runner:8010"
    assert runtime["environment"]["PLAYBOOKS_RUNNER_TOKEN_FILE"] == "/run/secrets/runner_token"
    assert "runner_token" in runtime["secrets"]
    assert runtime["depends_on"]["runbook-runner"]["condition"] == "service_healthy"
    # The runner shares a network with runbook-runtime only: no database, broker, Qdrant or service in reach.
    assert runner["networks"] == ["runner"]
    on_runner_net = {n for n, s in services.items() if "runner" in s.get("networks", [])}
    assert on_runner_net == {"runbook-runner", "runbook-runtime"}
    holders = {n for n, s in services.items() if "runner_token" in s.get("secrets", [])}
    assert holders == {"runbook-runtime"}, "nobody but runbook-runtime mounts the token"
    digest_holders = {n for n, s in services.items() if "runner_token_sha256" in s.get("secrets", [])}
    assert digest_holders == {"runbook-runner"}
    assert not PLATFORM_SECRETS & set(runner["secrets"])
    assert os.path.basename(runner["image"]).startswith("runbook-runtime:")


def test_the_console_is_served_hardened_with_its_service_urls_set_at_deploy_time(compose: dict[str, Any]) -> None:
    from playbooks_platform.console import CONSOLE_BACKENDS, ConsoleSettings

    services = compose["services"]
    console = services[CONSOLE]
    port = SERVICE_PORTS[CONSOLE]
    assert console["build"] == {"context": ".", "dockerfile": "deploy/docker/console.Dockerfile"}
    assert (REPO / console["build"]["dockerfile"]).is_file()
    assert console["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert "/usr/local/lib/playbooks-healthcheck.py" in console["healthcheck"]["test"]
    # Nothing secret and nothing it does not need: no database, broker or secret file.
    assert "secrets" not in console and "depends_on" not in console
    for key, value in {"user": "10001:10001", "read_only": True, "cap_drop": ["ALL"]}.items():
        assert console[key] == value, key
    # The URLs are the settings the console server reads, each a service the browser reaches on its published port.
    env = console["environment"]
    assert set(env) <= {f"PLAYBOOKS_CONSOLE_{n.upper()}" for n in ConsoleSettings.model_fields}
    urls = json.loads(env["PLAYBOOKS_CONSOLE_SERVICE_URLS"])
    assert set(urls) == set(CONSOLE_BACKENDS)
    for name, url in urls.items():
        assert f"127.0.0.1:{SERVICE_PORTS[name]}:{SERVICE_PORTS[name]}" in services[name]["ports"], name
        assert url == f"http://127.0.0.1:{SERVICE_PORTS[name]}", name
    # Each backend lets the console's origin in (the setting's default, unless compose changes it).
    from playbooks_platform.settings import PlatformSettings

    origins = PlatformSettings.model_fields["cors_origins"].get_default(call_default_factory=True)
    for name in CONSOLE_BACKENDS:
        set_here = services[name]["environment"].get("PLAYBOOKS_CORS_ORIGINS")
        assert f"http://127.0.0.1:{port}" in (json.loads(set_here) if set_here else origins), name
