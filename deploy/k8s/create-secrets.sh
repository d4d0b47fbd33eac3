#!/bin/sh
# Create the three Secrets the platform reads as files, with random values, in namespace $1:
#   playbooks-secrets              database_url, jwt_secret, signing_secret (the six services)
#   playbooks-runner-token         token (runbook-runtime only)
#   playbooks-runner-token-digest  sha256: the token's SHA-256 in hex (runbook-runner only; its steps can
#                                  read what it mounts, and a digest is nothing to authenticate with)
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
runner_token="$(random)"
# hashed as runbook-runtime reads the token file (surrounding whitespace stripped)
runner_sha256="$(printf '%s' "$runner_token" | python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.read().strip().encode()).hexdigest(), end="")')"
kubectl -n "$ns" create secret generic playbooks-runner-token --from-literal=token="$runner_token"
kubectl -n "$ns" create secret generic playbooks-runner-token-digest --from-literal=sha256="$runner_sha256"
