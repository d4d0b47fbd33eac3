#!/usr/bin/env bash
set -euo pipefail
[ "${SKIP_BACKUP:-false}" = "true" ] || gcloud sql backups create --project "$PROJECT" --instance "$INSTANCE"
[ "${DRY_RUN:-false}" = "true" ] && exit 0
gcloud sql instances patch "$INSTANCE" --project "$PROJECT" --activation-policy NEVER --quiet
