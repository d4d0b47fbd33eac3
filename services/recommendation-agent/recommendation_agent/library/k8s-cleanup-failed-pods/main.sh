#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"
kubectl -n "$ns" get pods --field-selector status.phase=Failed -o name
[ "${DRY_RUN:-false}" = "true" ] && exit 0
kubectl -n "$ns" delete pods --field-selector status.phase=Failed
