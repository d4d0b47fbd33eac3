"""Snapshot every managed disk of a VM."""

import os
import sys
import time

from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    compute = ComputeManagementClient(cred, sub)
    vm = compute.virtual_machines.get(rg, os.environ["VM_NAME"])
    disks = [vm.storage_profile.os_disk.managed_disk.id] + [d.managed_disk.id for d in vm.storage_profile.data_disks]
    stamp = time.strftime("%Y%m%d%H%M%S")
    for disk_id in disks:
        name = f"{disk_id.rsplit('/', 1)[-1]}-{stamp}"
        if os.environ.get("DRY_RUN") != "true":
            body = {
                "location": vm.location,
                "incremental": True,
                "creation_data": {"create_option": "Copy", "source_resource_id": disk_id},
            }
            compute.snapshots.begin_create_or_update(rg, name, body).result()
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
