"""Schedule an Auto Scaling group to zero off-hours and back in the morning."""

import os
import sys

import boto3


def main() -> int:
    asg = boto3.client("autoscaling", region_name=os.environ["REGION"])
    name, day, tz = os.environ["ASG_NAME"], int(os.environ["DAY_CAPACITY"]), os.environ.get("TIMEZONE", "UTC")
    asg.put_scheduled_update_group_action(
        AutoScalingGroupName=name,
        ScheduledActionName="off-hours-stop",
        Recurrence="0 19 * * 1-5",
        TimeZone=tz,
        MinSize=0,
        DesiredCapacity=0,
    )
    asg.put_scheduled_update_group_action(
        AutoScalingGroupName=name,
        ScheduledActionName="office-hours-start",
        Recurrence="0 7 * * 1-5",
        TimeZone=tz,
        MinSize=day,
        DesiredCapacity=day,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
