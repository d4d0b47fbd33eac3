#!/usr/bin/env bash
set -euo pipefail
stamp=$(date +%Y%m%d%H%M%S)
for disk in $(az vm show -g "$RESOURCE_GROUP" -n "$VM_NAME" --query "[storageProfile.osDisk.managedDisk.id, storageProfile.dataDisks[].managedDisk.id][]" -o tsv); do
  name="$(basename "$disk")-$stamp"; [ "${DRY_RUN:-false}" = "true" ] && { echo "would snapshot $disk"; continue; }
  az snapshot create -g "$RESOURCE_GROUP" -n "$name" --source "$disk" --incremental true -o none && echo "$name"
done
