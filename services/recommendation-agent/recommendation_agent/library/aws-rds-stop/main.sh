#!/usr/bin/env bash
set -euo pipefail
: "${INSTANCE_ID:?}" "${REGION:?}"
SKIP_SNAPSHOT="${SKIP_SNAPSHOT:-false}"; DRY_RUN="${DRY_RUN:-false}"
status=$(aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$INSTANCE_ID" \
  --query 'DBInstances[0].DBInstanceStatus' --output text)
[ "$status" = "available" ] || { echo "instance is $status, not available" >&2; exit 1; }
if [ "$DRY_RUN" = "true" ]; then echo "would snapshot and stop $INSTANCE_ID"; exit 0; fi
if [ "$SKIP_SNAPSHOT" != "true" ]; then
  snap="$INSTANCE_ID-pre-stop-$(date +%Y%m%d%H%M%S)"
  aws rds create-db-snapshot --region "$REGION" --db-instance-identifier "$INSTANCE_ID" --db-snapshot-identifier "$snap"
  aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "$snap"
fi
aws rds stop-db-instance --region "$REGION" --db-instance-identifier "$INSTANCE_ID"
aws rds wait db-instance-stopped --region "$REGION" --db-instance-identifier "$INSTANCE_ID" 2>/dev/null || true
echo "stopped $INSTANCE_ID"
