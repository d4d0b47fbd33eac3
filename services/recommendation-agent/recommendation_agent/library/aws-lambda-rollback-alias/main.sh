#!/usr/bin/env bash
set -euo pipefail
alias="${ALIAS:-prod}"
cur=$(aws lambda get-alias --region "$REGION" --function-name "$FUNCTION_NAME" --name "$alias" --query FunctionVersion --output text)
target="${TARGET_VERSION:-$(( cur - 1 ))}"
echo "alias $alias: $cur -> $target"
[ "${DRY_RUN:-false}" = "true" ] || aws lambda update-alias --region "$REGION" --function-name "$FUNCTION_NAME" --name "$alias" --function-version "$target"
