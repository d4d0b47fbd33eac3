"""Docker HEALTHCHECK: exit 0 when the service in this image answers /healthz (slim images have no curl)."""

import os
import sys
import urllib.request

from playbooks_platform.settings import SERVICE_PORTS

service = os.environ["PLAYBOOKS_SERVICE_NAME"]
port = SERVICE_PORTS[service]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    sys.stderr.write(f"{service} is not healthy: {exc}\n")
    sys.exit(1)
