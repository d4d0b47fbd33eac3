#!/usr/bin/env bash
set -euo pipefail
max=$(( DESIRED_SIZE > 0 ? DESIRED_SIZE : 1 ))
[ "${DRY_RUN:-false}" = "true" ] && { echo "would scale $NODEGROUP to $DESIRED_SIZE"; exit 0; }
aws eks update-nodegroup-config --region "$REGION" --cluster-name "$CLUSTER_NAME" --nodegroup-name "$NODEGROUP" --scaling-config minSize=0,maxSize=$max,desiredSize=$DESIRED_SIZE
aws eks wait nodegroup-active --region "$REGION" --cluster-name "$CLUSTER_NAME" --nodegroup-name "$NODEGROUP"
