#!/bin/sh
# Create the two Secrets the platform reads as files, with random values, in namespace $1:
#   playbooks-secrets       database_url, jwt_secret, signing_secret (the six services)
#   playbooks-runner-token  token (runbook-runtime and runbook-runner only)
# usage: deploy/k8s/create-secrets.sh NAMESPACE DATABASE_URL
# No overlay ships a Secret: a value committed to git would be as public as the dev placeholders.
set -eu
ns="${1:?usage: $0 NAMESPACE DATABASE_URL}"
db="${2:?usage: $0 NAMESPACE DATABASE_URL}"
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")'; }
kubectl -n "$ns" create secret generic playbooks-secrets \
  --from-literal=database_url="$db" \
  --from-literal=jwt_secret="$(random)" \
  --from-literal=signing_secret="$(random)"
kubectl -n "$ns" create secret generic playbooks-runner-token --from-literal=token="$(random)"
