#!/usr/bin/env bash
set -euo pipefail
aws eks update-cluster-version --region "$REGION" --name "$CLUSTER_NAME" --kubernetes-version "$TARGET_VERSION"
aws eks wait cluster-active --region "$REGION" --name "$CLUSTER_NAME"
for ng in $(aws eks list-nodegroups --region "$REGION" --cluster-name "$CLUSTER_NAME" --query nodegroups --output text); do
  aws eks update-nodegroup-version --region "$REGION" --cluster-name "$CLUSTER_NAME" --nodegroup-name "$ng"
  aws eks wait nodegroup-active --region "$REGION" --cluster-name "$CLUSTER_NAME" --nodegroup-name "$ng"
done
