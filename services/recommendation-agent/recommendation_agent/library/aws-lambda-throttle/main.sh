#!/usr/bin/env bash
set -euo pipefail
aws lambda get-function-concurrency --region "$REGION" --function-name "$FUNCTION_NAME" || true
[ "${DRY_RUN:-false}" = "true" ] && exit 0
aws lambda put-function-concurrency --region "$REGION" --function-name "$FUNCTION_NAME" --reserved-concurrent-executions "${RESERVED_CONCURRENCY:-0}"
