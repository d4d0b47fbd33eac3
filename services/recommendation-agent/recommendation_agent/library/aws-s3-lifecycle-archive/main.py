"""Add a lifecycle rule moving old objects to Glacier."""

import os
import sys

import boto3


def main() -> int:
    rule = {
        "ID": "archive-old",
        "Status": "Enabled",
        "Filter": {"Prefix": os.environ.get("PREFIX", "")},
        "Transitions": [{"Days": int(os.environ.get("TRANSITION_DAYS", "90")), "StorageClass": "GLACIER"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
    }
    if os.environ.get("DRY_RUN") != "true":
        boto3.client("s3").put_bucket_lifecycle_configuration(
            Bucket=os.environ["BUCKET"], LifecycleConfiguration={"Rules": [rule]}
        )
    print(rule)
    return 0


if __name__ == "__main__":
    sys.exit(main())
