#!/usr/bin/env bash
set -euo pipefail
az sql db show -g "$RESOURCE_GROUP" -s "$SERVER" -n "$DATABASE" --query currentServiceObjectiveName -o tsv
[ "${DRY_RUN:-false}" = "true" ] && exit 0
az sql db update -g "$RESOURCE_GROUP" -s "$SERVER" -n "$DATABASE" --service-objective "$SERVICE_OBJECTIVE"
