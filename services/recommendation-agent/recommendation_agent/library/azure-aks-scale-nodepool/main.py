"""Scale an AKS node pool."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.containerservice import ContainerServiceClient


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    aks = ContainerServiceClient(cred, sub)
    pool = aks.agent_pools.get(rg, os.environ["CLUSTER_NAME"], os.environ["NODEPOOL"])
    print(f"{pool.count} -> {os.environ['NODE_COUNT']}")
    if os.environ.get("DRY_RUN") != "true":
        pool.count = int(os.environ["NODE_COUNT"])
        aks.agent_pools.begin_create_or_update(rg, os.environ["CLUSTER_NAME"], pool.name, pool).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
