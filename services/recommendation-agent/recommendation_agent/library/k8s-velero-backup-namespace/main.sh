#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"; name="$ns-$(date +%Y%m%d%H%M%S)"
velero backup create "$name" --include-namespaces "$ns" --snapshot-volumes --ttl "${TTL_HOURS:-720}h" --wait
velero backup describe "$name" --details | head -20
