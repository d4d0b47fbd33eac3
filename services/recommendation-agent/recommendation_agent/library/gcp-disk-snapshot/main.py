"""Snapshot the disks of a Compute Engine instance."""

import os
import sys
import time

from google.cloud import compute_v1


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    vm = compute_v1.InstancesClient().get(project=project, zone=zone, instance=os.environ["INSTANCE"])
    disks = compute_v1.DisksClient()
    stamp = time.strftime("%Y%m%d%H%M%S")
    for attached in vm.disks:
        name = attached.source.rsplit("/", 1)[-1]
        if os.environ.get("DRY_RUN") != "true":
            disks.create_snapshot(
                project=project, zone=zone, disk=name, snapshot_resource=compute_v1.Snapshot(name=f"{name}-{stamp}")
            ).result()
        print(f"{name}-{stamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
