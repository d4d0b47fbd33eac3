#!/usr/bin/env bash
set -euo pipefail
az vm list-vm-resize-options -g "$RESOURCE_GROUP" -n "$VM_NAME" --query "[].name" -o tsv | grep -qx "$SIZE" || echo "size not on current cluster; a deallocate will be needed" >&2
[ "${DRY_RUN:-false}" = "true" ] && exit 0
az vm resize -g "$RESOURCE_GROUP" -n "$VM_NAME" --size "$SIZE"
