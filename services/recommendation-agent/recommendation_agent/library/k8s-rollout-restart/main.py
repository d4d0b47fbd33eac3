"""Rolling restart of a deployment (what kubectl rollout restart does)."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).isoformat()
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    if os.environ.get("DRY_RUN") != "true":
        client.AppsV1Api().patch_namespaced_deployment(os.environ["DEPLOYMENT"], ns, patch)
    print(f"restarted {os.environ['DEPLOYMENT']} at {stamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
