#!/usr/bin/env bash
set -euo pipefail
ids=$(aws ec2 describe-instances --region "$REGION" --filters "Name=instance-state-name,Values=running" "Name=tag:environment,Values=${ENVIRONMENT_TAG:-dev}" --query "Reservations[].Instances[].InstanceId" --output text)
start=$(date -u -d "-${LOOKBACK_DAYS:-7} days" +%FT%TZ); end=$(date -u +%FT%TZ)
for id in $ids; do
  cpu=$(aws cloudwatch get-metric-statistics --region "$REGION" --namespace AWS/EC2 --metric-name CPUUtilization --dimensions Name=InstanceId,Value="$id" --start-time "$start" --end-time "$end" --period 86400 --statistics Average --query "avg(Datapoints[].Average)" --output text)
  if awk -v c="$cpu" -v t="${CPU_THRESHOLD:-5}" "BEGIN{exit !(c < t)}"; then
    echo "idle: $id ($cpu%)"; [ "${DRY_RUN:-false}" = "true" ] || aws ec2 stop-instances --region "$REGION" --instance-ids "$id" >/dev/null
  fi
done
