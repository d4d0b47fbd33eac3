"""Create a manual RDS snapshot, optionally copied to a second region."""

import os
import sys

import boto3


def main() -> int:
    import time

    rds = boto3.client("rds", region_name=os.environ["REGION"])
    snap = f"{os.environ['INSTANCE_ID']}-manual-{time.strftime('%Y%m%d%H%M%S')}"
    rds.create_db_snapshot(DBInstanceIdentifier=os.environ["INSTANCE_ID"], DBSnapshotIdentifier=snap)
    rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snap)
    if target := os.environ.get("COPY_TO_REGION"):
        arn = rds.describe_db_snapshots(DBSnapshotIdentifier=snap)["DBSnapshots"][0]["DBSnapshotArn"]
        boto3.client("rds", region_name=target).copy_db_snapshot(
            SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier=snap
        )
    print(snap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
