#!/usr/bin/env bash
set -euo pipefail
gcloud sql backups create --project "$PROJECT" --instance "$INSTANCE" --description "on-demand $(date +%F)"
gcloud sql instances describe "$INSTANCE" --project "$PROJECT" --format="value(settings.backupConfiguration.enabled,settings.backupConfiguration.pointInTimeRecoveryEnabled)"
