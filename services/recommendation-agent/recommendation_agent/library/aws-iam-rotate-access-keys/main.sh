#!/usr/bin/env bash
set -euo pipefail
new=$(aws iam create-access-key --user-name "$USER_NAME" --query "AccessKey.[AccessKeyId,SecretAccessKey]" --output text)
read -r kid secret <<<"$new"
aws secretsmanager put-secret-value --region "$REGION" --secret-id "$SECRET_ID" --secret-string "{\"aws_access_key_id\":\"$kid\",\"aws_secret_access_key\":\"$secret\"}"
cutoff=$(date -u -d "-${MAX_AGE_DAYS:-90} days" +%FT%TZ)
for old in $(aws iam list-access-keys --user-name "$USER_NAME" --query "AccessKeyMetadata[?CreateDate<'$cutoff' && Status=='Active'].AccessKeyId" --output text); do
  aws iam update-access-key --user-name "$USER_NAME" --access-key-id "$old" --status Inactive
done
