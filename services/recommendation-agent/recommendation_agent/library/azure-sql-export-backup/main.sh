#!/usr/bin/env bash
set -euo pipefail
uri="$STORAGE_URI/$DATABASE-$(date +%Y%m%d%H%M%S).bacpac"
az sql db export -g "$RESOURCE_GROUP" -s "$SERVER" -n "$DATABASE" --storage-key-type StorageAccessKey --storage-key "$STORAGE_KEY" --storage-uri "$uri" \
  --admin-user "$SQL_ADMIN_USER" --admin-password "$SQL_ADMIN_PASSWORD"
echo "$uri"
