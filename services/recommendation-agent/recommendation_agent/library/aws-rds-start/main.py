"""Start a stopped RDS instance and wait until it is available."""

import os
import sys

import boto3


def main() -> int:
    rds = boto3.client("rds", region_name=os.environ["REGION"])
    instance = os.environ["INSTANCE_ID"]
    rds.start_db_instance(DBInstanceIdentifier=instance)
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=instance)
    print(f"started {instance}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
