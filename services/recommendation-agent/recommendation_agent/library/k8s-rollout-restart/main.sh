#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"
[ "${DRY_RUN:-false}" = "true" ] && { kubectl -n "$ns" get deploy "$DEPLOYMENT"; exit 0; }
kubectl -n "$ns" rollout restart deploy "$DEPLOYMENT"
kubectl -n "$ns" rollout status deploy "$DEPLOYMENT" --timeout 300s
