"""Snapshot and delete persistent disks with no users."""

import os
import sys

from google.cloud import compute_v1


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    disks = compute_v1.DisksClient()
    for disk in disks.list(project=project, zone=zone):
        if disk.users:
            continue
        print(f"unattached: {disk.name}")
        if os.environ.get("DRY_RUN") != "true":
            disks.create_snapshot(
                project=project,
                zone=zone,
                disk=disk.name,
                snapshot_resource=compute_v1.Snapshot(name=f"{disk.name}-before-delete"),
            ).result()
            disks.delete(project=project, zone=zone, disk=disk.name).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
