#!/usr/bin/env bash
set -euo pipefail
[ "${DRY_RUN:-false}" = "true" ] && { echo "would resize $NODEPOOL to $NUM_NODES"; exit 0; }
gcloud container clusters resize "$CLUSTER" --project "$PROJECT" --location "$ZONE" --node-pool "$NODEPOOL" --num-nodes "$NUM_NODES" --quiet
