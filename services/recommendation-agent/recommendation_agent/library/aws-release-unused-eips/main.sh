#!/usr/bin/env bash
set -euo pipefail
for alloc in $(aws ec2 describe-addresses --region "$REGION" --query "Addresses[?AssociationId==null].AllocationId" --output text); do
  echo "idle: $alloc"; [ "${DRY_RUN:-false}" = "true" ] || aws ec2 release-address --region "$REGION" --allocation-id "$alloc"
done
