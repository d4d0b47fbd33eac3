#!/usr/bin/env bash
set -euo pipefail
ns="${NAMESPACE:-default}"
limit=$(date -u -d "+${DAYS:-14} days" +%s)
kubectl -n "$ns" get certificates -o jsonpath='{range .items[*]}{.metadata.name} {.status.notAfter}{"\n"}{end}' | while read -r name after; do
  [ "$(date -u -d "$after" +%s)" -lt "$limit" ] || continue
  echo "renewing $name (expires $after)"; [ "${DRY_RUN:-false}" = "true" ] || cmctl renew -n "$ns" "$name"
done
