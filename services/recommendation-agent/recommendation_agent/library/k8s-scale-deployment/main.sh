#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"
prev=$(kubectl -n "$ns" get deploy "$DEPLOYMENT" -o jsonpath="{.spec.replicas}")
[ "${DRY_RUN:-false}" = "true" ] && { echo "would scale $DEPLOYMENT $prev -> $REPLICAS"; exit 0; }
kubectl -n "$ns" annotate deploy "$DEPLOYMENT" playbooks/previous-replicas="$prev" --overwrite
kubectl -n "$ns" scale deploy "$DEPLOYMENT" --replicas "$REPLICAS"
kubectl -n "$ns" rollout status deploy "$DEPLOYMENT" --timeout 120s
