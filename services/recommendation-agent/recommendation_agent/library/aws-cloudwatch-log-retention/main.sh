#!/usr/bin/env bash
set -euo pipefail
for g in $(aws logs describe-log-groups --region "$REGION" --log-group-name-prefix "${PREFIX:-/}" --query "logGroups[?retentionInDays==null].logGroupName" --output text); do
  echo "$g -> ${RETENTION_DAYS:-30}d"; [ "${DRY_RUN:-false}" = "true" ] || aws logs put-retention-policy --region "$REGION" --log-group-name "$g" --retention-in-days "${RETENTION_DAYS:-30}"
done
