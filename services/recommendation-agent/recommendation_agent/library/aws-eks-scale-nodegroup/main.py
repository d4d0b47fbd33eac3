"""Scale an EKS managed node group."""

import os
import sys

import boto3


def main() -> int:
    eks = boto3.client("eks", region_name=os.environ["REGION"])
    desired = int(os.environ["DESIRED_SIZE"])
    cfg = {"minSize": 0, "maxSize": max(desired, 1), "desiredSize": desired}
    if os.environ.get("DRY_RUN") != "true":
        eks.update_nodegroup_config(
            clusterName=os.environ["CLUSTER_NAME"], nodegroupName=os.environ["NODEGROUP"], scalingConfig=cfg
        )
    print(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
