#!/usr/bin/env bash
set -euo pipefail
snap="$INSTANCE_ID-manual-$(date +%Y%m%d%H%M%S)"
aws rds create-db-snapshot --region "$REGION" --db-instance-identifier "$INSTANCE_ID" --db-snapshot-identifier "$snap"
aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "$snap"
if [ -n "${COPY_TO_REGION:-}" ]; then
  arn=$(aws rds describe-db-snapshots --region "$REGION" --db-snapshot-identifier "$snap" --query "DBSnapshots[0].DBSnapshotArn" --output text)
  aws rds copy-db-snapshot --region "$COPY_TO_REGION" --source-db-snapshot-identifier "$arn" --target-db-snapshot-identifier "$snap"
fi
echo "$snap"
