#!/usr/bin/env bash
set -euo pipefail
ids=$(aws ec2 describe-instances --region "$REGION" --filters "Name=instance-state-name,Values=stopped" "Name=tag:${TAG_KEY:-schedule},Values=${TAG_VALUE:-office-hours}" --query "Reservations[].Instances[].InstanceId" --output text)
[ -z "$ids" ] && { echo "nothing to start"; exit 0; }
[ "${DRY_RUN:-false}" = "true" ] && { echo "would start $ids"; exit 0; }
aws ec2 start-instances --region "$REGION" --instance-ids $ids
aws ec2 wait instance-running --region "$REGION" --instance-ids $ids
