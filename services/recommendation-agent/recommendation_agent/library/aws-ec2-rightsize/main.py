"""Stop an instance, change its type, start it."""

import os
import sys

import boto3


def main() -> int:
    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    iid = os.environ["INSTANCE_ID"]
    ec2.stop_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": os.environ["INSTANCE_TYPE"]})
    ec2.start_instances(InstanceIds=[iid])
    print(f"{iid} now {os.environ['INSTANCE_TYPE']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
