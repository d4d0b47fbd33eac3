"""deploy/k8s: rendered like `kustomize build`, validated against the Kubernetes schemas, wired correctly,
secrets as files, every container hardened, real steps in a runner that holds no platform secret."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import REPO, known_settings, service_folders
from mini_kustomize import build, pod_spec

from playbooks_platform.cli import app as cli
from playbooks_platform.settings import SERVICE_PORTS
from runbook_runtime.runner import read_token_sha256, token_sha256

K8S = REPO / "deploy/k8s"
KUBERNETES_VERSION = "1.31"
LAYOUTS = ["base", "overlays/dev", "overlays/prod"]
# Created by the operator before applying (deploy/k8s/create-secrets.sh): no layout ships a secret value.
SECRETS = {
    ("Secret", "playbooks-secrets"),
    ("Secret", "playbooks-runner-token"),
    ("Secret", "playbooks-runner-token-digest"),
}
EXTERNAL = dict.fromkeys(LAYOUTS, SECRETS)
RUNNER = "runbook-runner"
CONSOLE = "console"  # static files and /config.js: no database, broker, secret or migration
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
    deployed = {name for kind, name in objs if kind == "Deployment"} - {"otel-collector", RUNNER, CONSOLE}
    assert set(services_with_ports) <= deployed, f"not deployed: {set(services_with_ports) - deployed}"
    assert deployed <= set(service_folders()), f"deployed but not in services/: {deployed - set(service_folders())}"
    for name in deployed | {CONSOLE}:
        for kind in PER_SERVICE:
            assert (kind, f"{name}-config" if kind == "ConfigMap" else name) in objs, f"{name}: no {kind}"


def test_deployments_probe_limit_and_run_unprivileged(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    layout, objs = rendered
    for (kind, name), obj in objs.items():
        if kind != "Deployment" or name not in SERVICE_PORTS or name == CONSOLE:
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
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in present


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
    assert not [k for k in {**dev, **prod} if k[0] == "Secret"], "a secret committed to git is a public secret"


SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|CREDENTIAL", re.IGNORECASE)


def containers(spec: Obj) -> list[Obj]:
    return spec.get("initContainers", []) + spec["containers"]


def environment(objs: dict[tuple[str, str], Obj], container: Obj) -> dict[str, str]:
    """The variables a container gets: its ConfigMaps (envFrom) and its own env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= objs[("ConfigMap", source["configMapRef"]["name"])]["data"]
    return env | {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_no_secret_reaches_a_container_as_an_environment_variable(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    _, objs = rendered
    for (_kind, name), obj in objs.items():
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container in containers(spec):
            assert not [s for s in container.get("envFrom", []) if "secretRef" in s], f"{name}: a Secret as env"
            assert not [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})], name
            for key, value in environment(objs, container).items():
                if key.endswith("_FILE"):
                    continue
                assert not SECRET_NAME.search(key), f"{name}: {key} is a secret in the environment; use {key}_FILE"
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: {key} carries credentials"


def test_secret_files_are_mounted_readable_by_the_pod_only(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    _, objs = rendered
    for (_kind, name), obj in objs.items():
        spec = pod_spec(obj)
        if spec is None:
            continue
        secret_volumes = {v["name"]: v["secret"] for v in spec.get("volumes", []) if "secret" in v}
        for volume in secret_volumes.values():
            assert volume["defaultMode"] == 0o440, f"{name}: secret files are 0440 (owner root, group fsGroup)"
        for container in containers(spec):
            files: dict[str, str] = {}
            for mount in container.get("volumeMounts", []):
                if mount["name"] in secret_volumes:
                    assert mount.get("readOnly") is True, name
                    for item in secret_volumes[mount["name"]]["items"]:
                        files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
            for key, value in environment(objs, container).items():
                if key.endswith("_FILE") and key.startswith("PLAYBOOKS_"):
                    assert value in files, f"{name}/{container['name']}: {key}={value} is not a mounted secret file"
            if name in SERVICE_PORTS and name != CONSOLE:
                needed = {"PLAYBOOKS_DATABASE_URL_FILE", "PLAYBOOKS_JWT_SECRET_FILE"}
                assert needed <= set(environment(objs, container)), f"{name}/{container['name']}"
    agent = objs[("ConfigMap", "recommendation-agent-config")]["data"]
    assert agent["PLAYBOOKS_SIGNING_SECRET_FILE"] == "/run/secrets/playbooks/signing_secret"


def test_every_pod_and_container_is_hardened(rendered: tuple[str, dict[tuple[str, str], Obj]]) -> None:
    _, objs = rendered
    for (kind, name), obj in objs.items():
        spec = pod_spec(obj)
        if spec is None:
            continue
        assert spec["automountServiceAccountToken"] is False, f"{kind} {name} mounts a service-account token"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc.get("privileged", False) is False, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
            writable = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if container["name"] != "topics" and not container["name"].startswith("otel"):
                assert "/tmp" in writable, f"{name}: /tmp is an emptyDir (the root filesystem is read-only)"
        account = spec.get("serviceAccountName")
        if account:
            assert objs[("ServiceAccount", account)]["automountServiceAccountToken"] is False, account


def test_real_steps_run_in_a_runner_that_holds_no_platform_secret(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    _, objs = rendered
    runner = objs[("Deployment", RUNNER)]
    spec = pod_spec(runner)
    assert spec is not None
    [container] = spec["containers"]
    assert container["command"] == ["python", "-m", "runbook_runtime.runner", "--host", "0.0.0.0", "--port", "8010"]
    assert container["image"].split("/")[-1].split(":")[0] == "runbook-runtime", "the runbook-runtime image"
    assert "envFrom" not in container and "initContainers" not in spec, "no platform ConfigMap, no migration"
    env = {e["name"]: e.get("value") for e in container["env"]}
    # Steps run as the runner's user and can read what it mounts: only the token's digest, which calls nothing.
    assert env == {"PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE": "/run/secrets/runner/sha256", "HOME": "/tmp"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(volumes) == {"tmp", "runner-token-digest"}
    digest = volumes["runner-token-digest"]["secret"]
    assert digest["secretName"] == "playbooks-runner-token-digest"
    assert [(i["key"], i["path"]) for i in digest["items"]] == [("sha256", "sha256")]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "runner-token-digest"]
    assert f"{mount['mountPath']}/sha256" == env["PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE"]
    assert spec["serviceAccountName"] == RUNNER and spec["enableServiceLinks"] is False
    service = objs[("Service", RUNNER)]["spec"]
    assert (
        service["ports"][0]["port"] == 8010
        and service["selector"].items() <= runner["spec"]["template"]["metadata"]["labels"].items()
    )
    # runbook-runtime sends its real steps there, with the shared token as a file.
    config = objs[("ConfigMap", "runbook-runtime-config")]["data"]
    assert config["PLAYBOOKS_RUNNER_URL"] == "http://runbook-runner:8010"
    runtime = pod_spec(objs[("Deployment", "runbook-runtime")])
    assert runtime is not None
    token = {v["name"]: v for v in runtime["volumes"]}["runner-token"]["secret"]
    assert token["secretName"] == "playbooks-runner-token"
    mounts = {m["name"]: m["mountPath"] for m in runtime["containers"][0]["volumeMounts"]}
    assert config["PLAYBOOKS_RUNNER_TOKEN_FILE"] == f"{mounts['runner-token']}/token"
    # Nobody but runbook-runtime mounts the runner token; nobody but the runner mounts its digest.
    for (_kind, name), obj in objs.items():
        other = pod_spec(obj)
        if other is None:
            continue
        secrets = {v["secret"]["secretName"] for v in other.get("volumes", []) if "secret" in v}
        assert ("playbooks-runner-token" in secrets) == (name == "runbook-runtime"), name
        assert ("playbooks-runner-token-digest" in secrets) == (name == RUNNER), name


def test_create_secrets_gives_the_runner_the_digest_of_the_token_runbook_runtime_sends(tmp_path: Path) -> None:
    """create-secrets.sh against a kubectl that records its arguments: three Secrets, the digest matching the token."""
    calls = tmp_path / "calls"
    kubectl = tmp_path / "bin/kubectl"
    kubectl.parent.mkdir()
    kubectl.write_text(f"#!/bin/sh\npython3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {calls}\n")
    kubectl.chmod(0o755)
    env = {"PATH": f"{kubectl.parent}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(K8S / "create-secrets.sh"), "ns", "postgresql://db"], env=env, check=True)
    created: dict[str, dict[str, str]] = {}
    for line in calls.read_text().splitlines():
        args = json.loads(line)
        assert args[:5] == ["-n", "ns", "create", "secret", "generic"], args
        created[args[5]] = dict(a.removeprefix("--from-literal=").split("=", 1) for a in args[6:])
    assert {("Secret", name) for name in created} == SECRETS
    token = created["playbooks-runner-token"]["token"]
    digest = created["playbooks-runner-token-digest"]
    assert set(digest) == {"sha256"} and digest["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    # the runner accepts it as its digest file, and it matches what runbook-runtime sends
    (tmp_path / "sha256").write_text(digest["sha256"])
    assert read_token_sha256(tmp_path / "sha256") == token_sha256(token) and len(token) >= 32


def _allows(policy: Obj, address: str, port: int) -> bool:
    """Whether an egress rule of ``policy`` lets traffic to an IP address (not a pod selector) through."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None:
                continue
            net = ipaddress.ip_network(block["cidr"])
            excepted = any(ip in ipaddress.ip_network(e) for e in block.get("except", []) if ip.version == net.version)
            if ip.version == net.version and ip in net and not excepted:
                return True
    return False


def test_only_runbook_runtime_reaches_the_runner_and_the_runner_reaches_nothing_internal(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    _, objs = rendered
    policy = objs[("NetworkPolicy", RUNNER)]
    runner_labels = objs[("Deployment", RUNNER)]["spec"]["template"]["metadata"]["labels"]
    runtime_labels = objs[("Deployment", "runbook-runtime")]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= runner_labels.items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    [ingress] = policy["spec"]["ingress"]
    [peer] = ingress["from"]
    assert set(peer) == {"podSelector"}, "from pods of this namespace only"
    assert peer["podSelector"]["matchLabels"].items() <= runtime_labels.items()
    for (kind, name), obj in objs.items():
        if kind == "Deployment" and name != "runbook-runtime":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert not peer["podSelector"]["matchLabels"].items() <= labels.items(), f"{name} could reach the runner"
    assert ingress["ports"] == [{"port": 8010, "protocol": "TCP"}]
    # Egress: DNS to the cluster's resolver pods, then public addresses only.
    for rule in policy["spec"]["egress"]:
        for to in rule["to"]:
            if "ipBlock" not in to:
                assert to["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}, "only DNS inside the cluster"
                assert {p["port"] for p in rule["ports"]} == {53}
    internal = ["10.96.0.1", "10.244.3.7", "172.17.0.2", "192.168.1.10", "169.254.169.254", "100.64.0.10", "fd00::1"]
    for address in internal:
        for port in (5432, 9092, 6333, 8005, 443, 53):
            assert not _allows(policy, address, port), f"the runner reaches {address}:{port}"
    assert _allows(policy, "203.0.113.10", 443) and _allows(policy, "2001:db8::1", 443), "steps reach the outside"


def test_the_console_serves_its_files_with_the_urls_set_at_deploy_time(
    rendered: tuple[str, dict[tuple[str, str], Obj]],
) -> None:
    from playbooks_platform.console import CONSOLE_BACKENDS

    layout, objs = rendered
    spec = pod_spec(objs[("Deployment", CONSOLE)])
    assert spec is not None
    [app] = spec["containers"]
    assert "initContainers" not in spec  # nothing to migrate
    assert app["ports"] == [{"name": "http", "containerPort": SERVICE_PORTS[CONSOLE], "protocol": "TCP"}]
    assert app["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert app["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert app["image"].split("/")[-1].split(":")[0] == CONSOLE
    # No secret of any kind: the browser brings the user's token.
    assert not [v for v in spec.get("volumes", []) if "secret" in v]
    assert {s["configMapRef"]["name"] for s in app["envFrom"]} == {"console-config"}
    urls = json.loads(objs[("ConfigMap", "console-config")]["data"]["PLAYBOOKS_CONSOLE_SERVICE_URLS"])
    assert set(urls) == set(CONSOLE_BACKENDS)
    if layout == "overlays/prod":
        assert all(u.startswith("https://") for u in urls.values()), urls
        # The services let the console's origin in.
        origins = json.loads(objs[("ConfigMap", "playbooks-platform")]["data"]["PLAYBOOKS_CORS_ORIGINS"])
        assert origins == ["https://console.playbooks.example.com"]
