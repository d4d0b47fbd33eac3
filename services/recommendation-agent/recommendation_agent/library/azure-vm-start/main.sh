#!/usr/bin/env bash
set -euo pipefail
names="${VM_NAMES:-}"
if [ -z "$names" ]; then names=$(az vm list -g "$RESOURCE_GROUP" --query "[?tags.${TAG%%=*}=='${TAG#*=}'].name" -o tsv); fi
for vm in ${names//,/ }; do [ "${DRY_RUN:-false}" = "true" ] && echo "would start $vm" || az vm start -g "$RESOURCE_GROUP" -n "$vm"; done
