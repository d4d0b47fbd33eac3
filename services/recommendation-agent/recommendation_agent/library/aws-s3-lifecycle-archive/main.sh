#!/usr/bin/env bash
set -euo pipefail
cat > /tmp/lifecycle.json <<JSON
{"Rules":[{"ID":"archive-old","Status":"Enabled","Filter":{"Prefix":"${PREFIX:-}"},"Transitions":[{"Days":${TRANSITION_DAYS:-90},"StorageClass":"GLACIER"}],"NoncurrentVersionExpiration":{"NoncurrentDays":365}}]}
JSON
[ "${DRY_RUN:-false}" = "true" ] && { cat /tmp/lifecycle.json; exit 0; }
aws s3api put-bucket-lifecycle-configuration --bucket "$BUCKET" --lifecycle-configuration file:///tmp/lifecycle.json
