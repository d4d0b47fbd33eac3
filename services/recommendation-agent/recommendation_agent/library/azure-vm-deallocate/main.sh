#!/usr/bin/env bash
set -euo pipefail
names="${VM_NAMES:-}"
if [ -z "$names" ]; then names=$(az vm list -g "$RESOURCE_GROUP" --query "[?tags.${TAG%%=*}=='${TAG#*=}'].name" -o tsv); fi
for vm in ${names//,/ }; do
  echo "deallocating $vm"; [ "${DRY_RUN:-false}" = "true" ] || az vm deallocate -g "$RESOURCE_GROUP" -n "$vm" --no-wait
done
