"""Start stopped EC2 instances that carry a tag."""

import os
import sys

import boto3


def main() -> int:
    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    tag = f"tag:{os.environ.get('TAG_KEY', 'schedule')}"
    filters = [
        {"Name": "instance-state-name", "Values": ["stopped"]},
        {"Name": tag, "Values": [os.environ.get("TAG_VALUE", "office-hours")]},
    ]
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]
    if ids and os.environ.get("DRY_RUN") != "true":
        ec2.start_instances(InstanceIds=ids)
        ec2.get_waiter("instance_running").wait(InstanceIds=ids)
    print(f"started {ids}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
