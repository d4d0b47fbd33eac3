"""Stop Compute Engine instances that carry a label."""

import os
import sys

from google.cloud import compute_v1


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    key, _, value = os.environ.get("LABEL", "env=dev").partition("=")
    client = compute_v1.InstancesClient()
    for vm in client.list(project=project, zone=zone):
        if vm.status == "RUNNING" and vm.labels.get(key) == value:
            print(f"stopping {vm.name}")
            if os.environ.get("DRY_RUN") != "true":
                client.stop(project=project, zone=zone, instance=vm.name).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
