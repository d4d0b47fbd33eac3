#!/usr/bin/env bash
set -euo pipefail
az aks nodepool show -g "$RESOURCE_GROUP" --cluster-name "$CLUSTER_NAME" -n "$NODEPOOL" --query count -o tsv
[ "${DRY_RUN:-false}" = "true" ] && exit 0
az aks nodepool scale -g "$RESOURCE_GROUP" --cluster-name "$CLUSTER_NAME" -n "$NODEPOOL" --node-count "$NODE_COUNT"
