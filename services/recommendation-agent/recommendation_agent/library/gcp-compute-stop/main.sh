#!/usr/bin/env bash
set -euo pipefail
key="${LABEL%%=*}"; value="${LABEL#*=}"
for vm in $(gcloud compute instances list --project "$PROJECT" --filter="zone:($ZONE) AND status=RUNNING AND labels.$key=$value" --format="value(name)"); do
  echo "stopping $vm"; [ "${DRY_RUN:-false}" = "true" ] || gcloud compute instances stop "$vm" --project "$PROJECT" --zone "$ZONE" --quiet
done
