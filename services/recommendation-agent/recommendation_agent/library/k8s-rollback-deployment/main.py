"""Roll a deployment back to the pod template of an earlier ReplicaSet."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    apps = client.AppsV1Api()
    name = os.environ["DEPLOYMENT"]
    dep = apps.read_namespaced_deployment(name, ns)
    owned = [
        rs
        for rs in apps.list_namespaced_replica_set(ns).items
        if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])
    ]
    owned.sort(key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]))
    wanted = int(os.environ.get("TO_REVISION", "0"))
    target = next(
        (rs for rs in owned if int(rs.metadata.annotations["deployment.kubernetes.io/revision"]) == wanted),
        owned[-2] if len(owned) > 1 else None,
    )
    if target is None:
        print("no earlier revision", file=sys.stderr)
        return 1
    template = target.spec.template
    template.metadata.labels.pop("pod-template-hash", None)
    if os.environ.get("DRY_RUN") != "true":
        apps.patch_namespaced_deployment(name, ns, {"spec": {"template": template}})
    print(f"rolled back to revision {target.metadata.annotations['deployment.kubernetes.io/revision']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
