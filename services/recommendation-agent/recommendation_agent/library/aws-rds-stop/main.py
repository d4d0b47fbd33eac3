"""Snapshot an RDS instance, then stop it."""

import os
import sys
import time

import boto3


def main() -> int:
    instance, region = os.environ["INSTANCE_ID"], os.environ["REGION"]
    rds = boto3.client("rds", region_name=region)
    status = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceStatus"]
    if status != "available":
        print(f"instance is {status}, not available", file=sys.stderr)
        return 1
    if os.environ.get("DRY_RUN") == "true":
        print(f"would snapshot and stop {instance}")
        return 0
    if os.environ.get("SKIP_SNAPSHOT") != "true":
        snap = f"{instance}-pre-stop-{time.strftime('%Y%m%d%H%M%S')}"
        rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=snap)
        rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snap)
    rds.stop_db_instance(DBInstanceIdentifier=instance)
    print(f"stopping {instance}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
