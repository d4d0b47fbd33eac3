"""Upgrade an AKS cluster."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.containerservice import ContainerServiceClient


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    aks = ContainerServiceClient(cred, sub)
    cluster = aks.managed_clusters.get(rg, os.environ["CLUSTER_NAME"])
    print(f"{cluster.kubernetes_version} -> {os.environ['KUBERNETES_VERSION']}")
    if os.environ.get("DRY_RUN") != "true":
        cluster.kubernetes_version = os.environ["KUBERNETES_VERSION"]
        aks.managed_clusters.begin_create_or_update(rg, cluster.name, cluster).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
