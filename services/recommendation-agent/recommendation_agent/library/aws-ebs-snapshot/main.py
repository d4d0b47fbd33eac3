"""Snapshot all EBS volumes of an instance with a retention tag."""

import os
import sys

import boto3


def main() -> int:
    from datetime import UTC, datetime, timedelta

    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    until = (datetime.now(UTC) + timedelta(days=int(os.environ.get("RETENTION_DAYS", "14")))).date().isoformat()
    out = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": os.environ["INSTANCE_ID"]},
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "delete-after", "Value": until}]}],
    )
    print([s["SnapshotId"] for s in out["Snapshots"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
