#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"
kubectl -n "$ns" rollout history deploy "$DEPLOYMENT"
[ "${DRY_RUN:-false}" = "true" ] && exit 0
kubectl -n "$ns" rollout undo deploy "$DEPLOYMENT" --to-revision "${TO_REVISION:-0}"
kubectl -n "$ns" rollout status deploy "$DEPLOYMENT" --timeout 300s
