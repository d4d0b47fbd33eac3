"""Upgrade an EKS control plane, then its node groups."""

import os
import sys

import boto3


def main() -> int:
    eks = boto3.client("eks", region_name=os.environ["REGION"])
    name = os.environ["CLUSTER_NAME"]
    if os.environ.get("DRY_RUN") == "true":
        print(eks.describe_cluster(name=name)["cluster"]["version"], "->", os.environ["TARGET_VERSION"])
        return 0
    eks.update_cluster_version(name=name, version=os.environ["TARGET_VERSION"])
    eks.get_waiter("cluster_active").wait(name=name)
    for ng in eks.list_nodegroups(clusterName=name)["nodegroups"]:
        eks.update_nodegroup_version(clusterName=name, nodegroupName=ng)
        eks.get_waiter("nodegroup_active").wait(clusterName=name, nodegroupName=ng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
