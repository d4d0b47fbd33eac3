"""Stop EC2 instances whose average CPU stayed under a threshold."""

import os
import sys

import boto3


def main() -> int:
    from datetime import UTC, datetime, timedelta

    ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
    cw = boto3.client("cloudwatch", region_name=os.environ["REGION"])
    threshold = float(os.environ.get("CPU_THRESHOLD", "5"))
    end = datetime.now(UTC)
    start = end - timedelta(days=int(os.environ.get("LOOKBACK_DAYS", "7")))
    filters = [
        {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "tag:environment", "Values": [os.environ.get("ENVIRONMENT_TAG", "dev")]},
    ]
    for res in ec2.describe_instances(Filters=filters)["Reservations"]:
        for inst in res["Instances"]:
            points = cw.get_metric_statistics(
                Namespace="AWS/EC2",
                MetricName="CPUUtilization",
                Dimensions=[{"Name": "InstanceId", "Value": inst["InstanceId"]}],
                StartTime=start,
                EndTime=end,
                Period=86400,
                Statistics=["Average"],
            )["Datapoints"]
            cpu = sum(p["Average"] for p in points) / len(points) if points else 0.0
            if cpu < threshold:
                print(f"idle: {inst['InstanceId']} ({cpu:.1f}%)")
                if os.environ.get("DRY_RUN") != "true":
                    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
