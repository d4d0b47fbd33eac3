#!/usr/bin/env bash
set -euo pipefail
aws ec2 stop-instances --region "$REGION" --instance-ids "$INSTANCE_ID"
aws ec2 wait instance-stopped --region "$REGION" --instance-ids "$INSTANCE_ID"
aws ec2 modify-instance-attribute --region "$REGION" --instance-id "$INSTANCE_ID" --instance-type "{\"Value\": \"$INSTANCE_TYPE\"}"
aws ec2 start-instances --region "$REGION" --instance-ids "$INSTANCE_ID"
