#!/usr/bin/env bash
set -euo pipefail
kubectl cordon "$NODE"
[ "${DRY_RUN:-false}" = "true" ] && { kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --dry-run=client; exit 0; }
kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout "${TIMEOUT_SECONDS:-300}s"
