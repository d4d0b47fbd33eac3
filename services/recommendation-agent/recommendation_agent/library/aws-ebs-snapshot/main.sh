#!/usr/bin/env bash
set -euo pipefail
until=$(date -u -d "+${RETENTION_DAYS:-14} days" +%F)
aws ec2 create-snapshots --region "$REGION" --instance-specification InstanceId="$INSTANCE_ID" --copy-tags-from-source volume \
  --tag-specifications "ResourceType=snapshot,Tags=[{Key=source-instance,Value=$INSTANCE_ID},{Key=delete-after,Value=$until}]"
