#!/usr/bin/env bash
set -euo pipefail
cutoff=$(date -u -d "-${MIN_AGE_DAYS:-30} days" +%FT%TZ)
for vol in $(aws ec2 describe-volumes --region "$REGION" --filters Name=status,Values=available --query "Volumes[?CreateTime<'$cutoff'].VolumeId" --output text); do
  echo "unattached: $vol"; [ "${DRY_RUN:-false}" = "true" ] && continue
  if [ "${SNAPSHOT_FIRST:-true}" = "true" ]; then
    snap=$(aws ec2 create-snapshot --region "$REGION" --volume-id "$vol" --description "before delete" --query SnapshotId --output text)
    aws ec2 wait snapshot-completed --region "$REGION" --snapshot-ids "$snap"
  fi
  aws ec2 delete-volume --region "$REGION" --volume-id "$vol"
done
