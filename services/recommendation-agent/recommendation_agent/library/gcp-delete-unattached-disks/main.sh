#!/usr/bin/env bash
set -euo pipefail
for disk in $(gcloud compute disks list --project "$PROJECT" --filter="zone:($ZONE) AND -users:*" --format="value(name)"); do
  echo "unattached: $disk"; [ "${DRY_RUN:-false}" = "true" ] && continue
  gcloud compute disks snapshot "$disk" --project "$PROJECT" --zone "$ZONE" --snapshot-names "$disk-before-delete"
  gcloud compute disks delete "$disk" --project "$PROJECT" --zone "$ZONE" --quiet
done
