#!/usr/bin/env bash
set -euo pipefail
az storage account update -g "$RESOURCE_GROUP" -n "$ACCOUNT_NAME" --allow-blob-public-access false --min-tls-version TLS1_2 --https-only true -o none
az storage account show -g "$RESOURCE_GROUP" -n "$ACCOUNT_NAME" --query allowBlobPublicAccess
