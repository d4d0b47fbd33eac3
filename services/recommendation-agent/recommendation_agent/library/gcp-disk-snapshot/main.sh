#!/usr/bin/env bash
set -euo pipefail
stamp=$(date +%Y%m%d%H%M%S)
for disk in $(gcloud compute instances describe "$INSTANCE" --project "$PROJECT" --zone "$ZONE" --format="value(disks[].source.basename())" | tr ";" " "); do
  [ "${DRY_RUN:-false}" = "true" ] && { echo "would snapshot $disk"; continue; }
  gcloud compute disks snapshot "$disk" --project "$PROJECT" --zone "$ZONE" --snapshot-names "$disk-$stamp"
done
