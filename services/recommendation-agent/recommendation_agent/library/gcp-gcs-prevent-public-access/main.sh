#!/usr/bin/env bash
set -euo pipefail
gcloud storage buckets update "gs://$BUCKET" --project "$PROJECT" --public-access-prevention --uniform-bucket-level-access
for member in allUsers allAuthenticatedUsers; do
  gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" --member="$member" --role=roles/storage.objectViewer 2>/dev/null || true
done
