"""Snapshot and delete EBS volumes left unattached for too long."""

import os
import sys

import boto3


def main() -> int:
    from datetime import UTC, datetime, timedelta

    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    cutoff = datetime.now(UTC) - timedelta(days=int(os.environ.get("MIN_AGE_DAYS", "30")))
    for vol in ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["available"]}])["Volumes"]:
        if vol["CreateTime"] >= cutoff:
            continue
        print(f"unattached: {vol['VolumeId']}")
        if os.environ.get("DRY_RUN") == "true":
            continue
        if os.environ.get("SNAPSHOT_FIRST", "true") == "true":
            snap = ec2.create_snapshot(VolumeId=vol["VolumeId"], Description="before delete")
            ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]])
        ec2.delete_volume(VolumeId=vol["VolumeId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
