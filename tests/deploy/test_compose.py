"""docker-compose.yml, checked statically (no Docker engine here): schema, services, ports, health, wiring."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import REPO, known_settings, service_folders

from playbooks_platform.settings import SERVICE_PORTS

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


def app_services(compose: dict[str, Any]) -> dict[str, Any]:
    """The platform's services: those built from the shared Dockerfile and serving HTTP."""
    return {n: s for n, s in compose["services"].items() if "build" in s and n in SERVICE_PORTS}


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
        assert svc["ports"] == [f"{port}:{port}"], name
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert svc["build"]["args"]["SERVICE"] == name, name
        assert svc["image"].split(":")[0] == f"playbooks/{name}", name
        test = svc["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and "/usr/local/lib/playbooks-healthcheck.py" in test, name


def test_each_service_built_is_a_service_of_the_repository(compose: dict[str, Any]) -> None:
    folders = set(service_folders())
    for name, svc in compose["services"].items():
        if "build" in svc:
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
        assert "@postgres:5432/" in env["PLAYBOOKS_DATABASE_URL"]
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
