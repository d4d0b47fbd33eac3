#!/usr/bin/env bash
set -euo pipefail
aws rds start-db-instance --region "$REGION" --db-instance-identifier "$INSTANCE_ID"
aws rds wait db-instance-available --region "$REGION" --db-instance-identifier "$INSTANCE_ID"
echo "started $INSTANCE_ID"
