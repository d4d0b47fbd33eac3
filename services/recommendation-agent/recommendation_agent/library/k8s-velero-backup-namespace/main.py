"""Create a Velero backup of a namespace through its custom resource."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    import time

    name = f"{ns}-{time.strftime('%Y%m%d%H%M%S')}"
    body = {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero"},
        "spec": {
            "includedNamespaces": [ns],
            "snapshotVolumes": True,
            "ttl": f"{os.environ.get('TTL_HOURS', '720')}h0m0s",
        },
    }
    api = client.CustomObjectsApi()
    api.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", body)
    while (
        phase := api.get_namespaced_custom_object("velero.io", "v1", "velero", "backups", name)
        .get("status", {})
        .get("phase")
    ) not in ("Completed", "Failed", "PartiallyFailed"):
        time.sleep(10)
    print(name, phase)
    return 0


if __name__ == "__main__":
    sys.exit(main())
