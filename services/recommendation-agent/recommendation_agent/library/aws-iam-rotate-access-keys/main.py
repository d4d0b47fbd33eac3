"""Rotate an IAM user's access keys through Secrets Manager."""

import os
import sys

import boto3


def main() -> int:
    import json
    from datetime import UTC, datetime, timedelta

    iam = boto3.client("iam")
    user = os.environ["USER_NAME"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    secret = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    boto3.client("secretsmanager", region_name=os.environ["REGION"]).put_secret_value(
        SecretId=os.environ["SECRET_ID"], SecretString=json.dumps(secret)
    )
    cutoff = datetime.now(UTC) - timedelta(days=int(os.environ.get("MAX_AGE_DAYS", "90")))
    for meta in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        if meta["Status"] == "Active" and meta["CreateDate"] < cutoff:
            iam.update_access_key(UserName=user, AccessKeyId=meta["AccessKeyId"], Status="Inactive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
