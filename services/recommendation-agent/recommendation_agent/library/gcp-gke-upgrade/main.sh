#!/usr/bin/env bash
set -euo pipefail
gcloud container clusters upgrade "$CLUSTER" --project "$PROJECT" --location "$ZONE" --master --cluster-version "$VERSION" --quiet
for pool in $(gcloud container node-pools list --project "$PROJECT" --cluster "$CLUSTER" --location "$ZONE" --format="value(name)"); do
  gcloud container clusters upgrade "$CLUSTER" --project "$PROJECT" --location "$ZONE" --node-pool "$pool" --cluster-version "$VERSION" --quiet
done
