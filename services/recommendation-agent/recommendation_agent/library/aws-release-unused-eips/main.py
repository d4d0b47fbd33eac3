"""Release Elastic IPs not associated with anything."""

import os
import sys

import boto3


def main() -> int:
    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    for addr in ec2.describe_addresses()["Addresses"]:
        if "AssociationId" not in addr:
            print(f"idle: {addr['PublicIp']}")
            if os.environ.get("DRY_RUN") != "true":
                ec2.release_address(AllocationId=addr["AllocationId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
