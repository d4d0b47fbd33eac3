#!/bin/sh
# Start the image's service: apply its migrations (unless PLAYBOOKS_MIGRATE_ON_START=false, as in
# Kubernetes where an init container does it), then serve on all interfaces at its own port.
# Extra arguments go to `playbooks serve` (e.g. --role worker).
set -eu
service="${PLAYBOOKS_SERVICE_NAME:?PLAYBOOKS_SERVICE_NAME is not set}"
if [ "${PLAYBOOKS_MIGRATE_ON_START:-true}" = "true" ]; then
    playbooks migrate "$service"
fi
exec playbooks serve "$service" --host 0.0.0.0 "$@"
