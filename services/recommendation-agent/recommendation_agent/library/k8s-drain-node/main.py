"""Cordon a node and evict its pods through the Eviction API."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    del ns
    core = client.CoreV1Api()
    node = os.environ["NODE"]
    core.patch_node(node, {"spec": {"unschedulable": True}})
    pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    for pod in pods:
        if any(o.kind == "DaemonSet" for o in pod.metadata.owner_references or []):
            continue
        print(f"evicting {pod.metadata.namespace}/{pod.metadata.name}")
        if os.environ.get("DRY_RUN") != "true":
            body = client.V1Eviction(
                metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace)
            )
            core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
