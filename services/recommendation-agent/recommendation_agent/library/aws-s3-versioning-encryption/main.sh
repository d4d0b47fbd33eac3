#!/usr/bin/env bash
set -euo pipefail
aws s3api put-bucket-versioning --bucket "$BUCKET" --versioning-configuration Status=Enabled
if [ -n "${KMS_KEY_ID:-}" ]; then rule="{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"$KMS_KEY_ID\"}}]}"
else rule='{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'; fi
aws s3api put-bucket-encryption --bucket "$BUCKET" --server-side-encryption-configuration "$rule"
