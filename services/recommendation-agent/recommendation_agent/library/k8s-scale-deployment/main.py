"""Scale a deployment, remembering the previous replica count."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    apps = client.AppsV1Api()
    name = os.environ["DEPLOYMENT"]
    prev = apps.read_namespaced_deployment_scale(name, ns).spec.replicas
    print(f"{name}: {prev} -> {os.environ['REPLICAS']}")
    if os.environ.get("DRY_RUN") != "true":
        apps.patch_namespaced_deployment(
            name, ns, {"metadata": {"annotations": {"playbooks/previous-replicas": str(prev)}}}
        )
        apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": int(os.environ["REPLICAS"])}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
