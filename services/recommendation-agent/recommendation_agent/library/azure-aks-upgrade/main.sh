#!/usr/bin/env bash
set -euo pipefail
az aks get-upgrades -g "$RESOURCE_GROUP" -n "$CLUSTER_NAME" -o table
[ "${DRY_RUN:-false}" = "true" ] && exit 0
az aks upgrade -g "$RESOURCE_GROUP" -n "$CLUSTER_NAME" --kubernetes-version "$KUBERNETES_VERSION" --yes
