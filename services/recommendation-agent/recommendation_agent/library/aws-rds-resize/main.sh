#!/usr/bin/env bash
set -euo pipefail
flag="--no-apply-immediately"; [ "${APPLY_IMMEDIATELY:-false}" = "true" ] && flag="--apply-immediately"
aws rds modify-db-instance --region "$REGION" --db-instance-identifier "$INSTANCE_ID" --db-instance-class "$INSTANCE_CLASS" $flag
aws rds wait db-instance-available --region "$REGION" --db-instance-identifier "$INSTANCE_ID"
