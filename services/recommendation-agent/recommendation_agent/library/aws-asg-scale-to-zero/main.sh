#!/usr/bin/env bash
set -euo pipefail
tz="${TIMEZONE:-UTC}"
aws autoscaling put-scheduled-update-group-action --region "$REGION" --auto-scaling-group-name "$ASG_NAME" --scheduled-action-name off-hours-stop --recurrence "0 19 * * 1-5" --time-zone "$tz" --min-size 0 --desired-capacity 0
aws autoscaling put-scheduled-update-group-action --region "$REGION" --auto-scaling-group-name "$ASG_NAME" --scheduled-action-name office-hours-start --recurrence "0 7 * * 1-5" --time-zone "$tz" --min-size "$DAY_CAPACITY" --desired-capacity "$DAY_CAPACITY"
