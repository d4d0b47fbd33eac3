#!/usr/bin/env bash
set -euo pipefail
aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws s3api put-bucket-acl --bucket "$BUCKET" --acl private
echo "locked down $BUCKET"
