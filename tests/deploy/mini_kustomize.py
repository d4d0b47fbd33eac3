"""Enough of `kustomize build` to render deploy/k8s offline (no kustomize binary here).

It supports exactly the fields deploy/k8s uses and refuses any other, so a kustomization that
grows a feature this cannot render fails the tests instead of being half-checked. Generated
ConfigMaps and Secrets keep their plain names (kustomize would add a content hash and rewrite
the references to it).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
    "secretGenerator",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}

Obj = dict[str, Any]


def build(folder: Path) -> list[Obj]:
    """The objects `kustomize build folder` would print (order aside)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(f"{folder}: kustomization fields this renderer does not support: {sorted(unknown)}")
    objs: list[Obj] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objs += build(path)
        else:
            objs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for gen in spec.get("configMapGenerator", []):
        objs.append(_generated("ConfigMap", folder, gen))
    for gen in spec.get("secretGenerator", []):
        objs.append(_generated("Secret", folder, gen))
    for label in spec.get("labels", []):
        if set(label) - {"pairs", "includeSelectors"} or label.get("includeSelectors"):
            raise ValueError(f"{folder}: only labels with includeSelectors: false are supported")
        for obj in objs:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for obj in objs:
            for container in _containers(obj):
                _retag(container, image)
    for patch in spec.get("patches", []):
        matched = [obj for obj in objs if _matches(obj, patch["target"])]
        if not matched:
            raise ValueError(f"{folder}: patch target {patch['target']} matches nothing")
        ops = yaml.safe_load(patch["patch"])
        if not isinstance(ops, list):
            raise ValueError(f"{folder}: only JSON 6902 patches (a list of operations) are supported")
        for obj in matched:
            for op in ops:
                apply_op(obj, op)
    if "namespace" in spec:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objs


def _generated(kind: str, folder: Path, gen: Obj) -> Obj:
    if set(gen) - {"name", "files", "literals"}:
        raise ValueError(
            f"{folder}: generator fields not supported: {sorted(set(gen) - {'name', 'files', 'literals'})}"
        )
    data: dict[str, str] = {}
    for item in gen.get("files", []):
        key, _, rel = item.partition("=") if "=" in item else (Path(item).name, "", item)
        path = (folder / rel).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise ValueError(f"{folder}: {rel} is outside the kustomization root (kustomize refuses it)")
        data[key] = path.read_text()
    for item in gen.get("literals", []):
        key, _, value = item.partition("=")
        data[key] = value
    if kind == "Secret":
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": gen["name"]},
            "type": "Opaque",
            "data": encoded,
        }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}


def pod_spec(obj: Obj) -> Obj | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def _containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    return [] if spec is None else spec.get("initContainers", []) + spec.get("containers", [])


def _retag(container: Obj, image: Obj) -> None:
    repo, tag = container["image"].split("@")[0], ""
    if ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
        tag = f":{tag}"
    if repo == image["name"]:
        container["image"] = image.get("newName", repo) + (f":{image['newTag']}" if "newTag" in image else tag)


def _matches(obj: Obj, target: Obj) -> bool:
    if set(target) - {"kind", "name"}:
        raise ValueError(f"patch target fields not supported: {sorted(set(target) - {'kind', 'name'})}")
    return obj["kind"] == target.get("kind", obj["kind"]) and obj["metadata"]["name"] == target.get(
        "name", obj["metadata"]["name"]
    )


def apply_op(doc: Obj, op: Obj) -> None:
    """One RFC 6902 operation (add, replace, remove), in place."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[index]
        else:
            raise ValueError(f"unsupported patch op {kind}")
        return
    if kind in ("replace", "remove") and last not in parent:
        raise ValueError(f"{op['path']} does not exist, cannot {kind} it")
    if kind in ("add", "replace"):
        parent[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del parent[last]
    else:
        raise ValueError(f"unsupported patch op {kind}")
