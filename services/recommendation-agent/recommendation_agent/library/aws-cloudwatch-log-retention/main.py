"""Set retention on log groups that never expire."""

import os
import sys

import boto3


def main() -> int:
    logs = boto3.client("logs", region_name=os.environ["REGION"])
    days = int(os.environ.get("RETENTION_DAYS", "30"))
    kwargs = {"logGroupNamePrefix": os.environ["PREFIX"]} if os.environ.get("PREFIX") else {}
    for page in logs.get_paginator("describe_log_groups").paginate(**kwargs):
        for group in page["logGroups"]:
            if "retentionInDays" not in group:
                print(group["logGroupName"])
                if os.environ.get("DRY_RUN") != "true":
                    logs.put_retention_policy(logGroupName=group["logGroupName"], retentionInDays=days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
