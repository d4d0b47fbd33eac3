"""Delete Failed (including Evicted) pods in a namespace."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    core = client.CoreV1Api()
    for pod in core.list_namespaced_pod(ns, field_selector="status.phase=Failed").items:
        print(f"{pod.metadata.name}: {pod.status.reason}")
        if os.environ.get("DRY_RUN") != "true":
            core.delete_namespaced_pod(pod.metadata.name, ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
