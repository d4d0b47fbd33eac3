"""Change the instance class of an RDS instance."""

import os
import sys

import boto3


def main() -> int:
    rds = boto3.client("rds", region_name=os.environ["REGION"])
    rds.modify_db_instance(
        DBInstanceIdentifier=os.environ["INSTANCE_ID"],
        DBInstanceClass=os.environ["INSTANCE_CLASS"],
        ApplyImmediately=os.environ.get("APPLY_IMMEDIATELY") == "true",
    )
    print("modification requested")
    return 0


if __name__ == "__main__":
    sys.exit(main())
