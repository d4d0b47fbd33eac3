"""Resize a GKE node pool."""

import os
import sys

from google.cloud import container_v1


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    client = container_v1.ClusterManagerClient()
    name = f"projects/{project}/locations/{zone}/clusters/{os.environ['CLUSTER']}/nodePools/{os.environ['NODEPOOL']}"
    if os.environ.get("DRY_RUN") != "true":
        client.set_node_pool_size(request={"name": name, "node_count": int(os.environ["NUM_NODES"])})
    print(name, os.environ["NUM_NODES"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
