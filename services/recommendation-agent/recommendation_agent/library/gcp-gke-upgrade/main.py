"""Upgrade a GKE control plane, then its node pools."""

import os
import sys

from google.cloud import container_v1


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    client = container_v1.ClusterManagerClient()
    name = f"projects/{project}/locations/{zone}/clusters/{os.environ['CLUSTER']}"
    if os.environ.get("DRY_RUN") == "true":
        print(client.get_cluster(name=name).current_master_version, "->", os.environ["VERSION"])
        return 0
    client.update_master(request={"name": name, "master_version": os.environ["VERSION"]})
    for pool in client.list_node_pools(parent=name).node_pools:
        client.update_node_pool(
            request={
                "name": f"{name}/nodePools/{pool.name}",
                "node_version": os.environ["VERSION"],
                "image_type": pool.config.image_type,
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
