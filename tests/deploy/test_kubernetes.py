"""deploy/k8s: rendered like `kustomize build`, validated against the Kubernetes schemas, wired correctly."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import REPO, known_settings, service_folders
from mini_kustomize import build, pod_spec

from playbooks_platform.cli import app as cli
from playbooks_platform.settings import SERVICE_PORTS

K8S = REPO / "deploy/k8s"
KUBERNETES_VERSION = "1.31"
LAYOUTS = ["base", "overlays/dev", "overlays/prod"]
# Created by the operator before applying prod (it holds the database password and JWT secret).
EXTERNAL = {"overlays/prod": {("Secret", "playbooks-secrets")}, "base": {("Secret", "playbooks-secrets")}}
PER_SERVICE = ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]

Obj = dict[str, Any]


@pytest.fixture(scope="module", params=LAYOUTS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[tuple[str, str], Obj]]:
    objs = build(K8S / request.param)
    by_key: dict[tuple[str, str], Obj] = {}
    for obj in objs:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in by_key, f"{key} defined twice"
        by_key[key] = obj
    return request.param, by_key


def test_every_object_is_valid_against_the_kubernetes_schema(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    _, objs = rendered
    for key, obj in objs.items():
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_every_service_has_all_its_objects(
    rendered: tuple[str, dict[tuple[str, str], Obj]], services_with_ports: list[str]
) -> None:
    _, objs = rendered
    deployed = {name for kind, name in objs if kind == "Deployment"} - {"otel-collector"}
    assert set(services_with_ports) <= deployed, f"not deployed: {set(services_with_ports) - deployed}"
    assert deployed <= set(service_folders()), f"deployed but not in services/: {deployed - set(service_folders())}"
    for name in deployed:
        for kind in PER_SERVICE:
            assert (kind, f"{name}-config" if kind == "ConfigMap" else name) in objs, f"{name}: no {kind}"


def test_deployments_probe_limit_and_run_unprivileged(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    layout, objs = rendered
    for (kind, name), obj in objs.items():
        if kind != "Deployment" or name not in SERVICE_PORTS:
            continue
        spec = pod_spec(obj)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        [app] = spec["containers"]
        [port] = app["ports"]
        assert port == {"name": "http", "containerPort": SERVICE_PORTS[name], "protocol": "TCP"}, name
        assert app["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
        assert app["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        for container in [app, *spec.get("initContainers", [])]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            image = container["image"]
            assert image.split("/")[-1].split(":")[0] == name, f"{name} runs {image}"
            if layout != "base":
                assert ":" in image.split("/")[-1], f"{layout}: {name} image has no tag"
        [migrate] = spec["initContainers"]
        assert migrate["command"] == ["playbooks", "migrate", name]
        assert {"name": "PLAYBOOKS_MIGRATE_ON_START", "value": "false"} in app["env"]


def test_services_autoscalers_and_budgets_point_at_their_deployment(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    _, objs = rendered
    for (kind, name), obj in objs.items():
        if kind != "Deployment" or name not in SERVICE_PORTS:
            continue
        pod_labels = obj["spec"]["template"]["metadata"]["labels"]
        assert obj["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        service = objs[("Service", name)]["spec"]
        assert service["selector"].items() <= pod_labels.items()
        assert service["ports"][0]["port"] == SERVICE_PORTS[name] and service["ports"][0]["targetPort"] == "http"
        hpa = objs[("HorizontalPodAutoscaler", name)]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
        assert "replicas" not in obj["spec"], "the HPA owns the replica count"
        pdb = objs[("PodDisruptionBudget", name)]["spec"]
        assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_reference_resolves_and_every_setting_is_real(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    layout, objs = rendered
    present = set(objs) | EXTERNAL.get(layout, set())
    for (_kind, name), obj in objs.items():
        spec = pod_spec(obj)
        if spec is None:
            continue
        account = spec.get("serviceAccountName")
        assert account is None or ("ServiceAccount", account) in present, f"{name}: no service account {account}"
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                ref = ("ConfigMap", source["configMapRef"]["name"]) if "configMapRef" in source else None
                ref = ref or ("Secret", source["secretRef"]["name"])
                assert ref in present, f"{name} reads {ref}, which does not exist"
                if ref[0] == "ConfigMap" and name in SERVICE_PORTS:
                    unknown = {k for k in objs[ref]["data"] if k.startswith("PLAYBOOKS_")} - known_settings(name)
                    assert not unknown, f"{name}: {ref[1]} sets variables no setting reads: {unknown}"
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in present


def test_topic_job_creates_the_registry_topics(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    layout, objs = rendered
    job = objs[("Job", "playbooks-topics")]
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["playbooks", "topics"]
    topics_cmd = next(c for c in cli.registered_commands if (c.name or c.callback.__name__) == "topics")  # type: ignore[union-attr]
    assert "replication" in topics_cmd.callback.__code__.co_varnames  # type: ignore[union-attr]
    replication = int(command[command.index("--replication") + 1])
    assert replication == (3 if layout == "overlays/prod" else 1)


def test_collector_gets_its_config_and_receives_what_services_send(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    _, objs = rendered
    config = yaml.safe_load(objs[("ConfigMap", "otel-collector-config")]["data"]["config.yaml"])
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    endpoint = objs[("ConfigMap", "playbooks-platform")]["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    service = objs[("Service", "otel-collector")]
    host, port = endpoint.removeprefix("http://").split(":")
    assert host == service["metadata"]["name"]
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(f":{port}")
    [collector] = objs[("Deployment", "otel-collector")]["spec"]["template"]["spec"]["containers"]
    assert collector["env"][0]["valueFrom"]["configMapKeyRef"]["name"] == "otel-collector-env"


def test_overlays_change_what_they_mean_to() -> None:
    dev = {(o["kind"], o["metadata"]["name"]): o for o in build(K8S / "overlays/dev")}
    prod = {(o["kind"], o["metadata"]["name"]): o for o in build(K8S / "overlays/prod")}
    assert dev[("ConfigMap", "playbooks-platform")]["data"]["PLAYBOOKS_ENV"] == "dev"
    assert prod[("ConfigMap", "playbooks-platform")]["data"]["PLAYBOOKS_ENV"] == "prod"
    assert {o["metadata"]["namespace"] for k, o in prod.items() if k[0] != "Namespace"} == {"playbooks"}
    assert all(o["spec"]["minReplicas"] >= 3 for k, o in prod.items() if k[0] == "HorizontalPodAutoscaler")
    assert ("Secret", "playbooks-secrets") in dev and ("Secret", "playbooks-secrets") not in prod
