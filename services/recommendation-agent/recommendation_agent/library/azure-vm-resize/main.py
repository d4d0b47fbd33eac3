"""Resize an Azure VM."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    compute = ComputeManagementClient(cred, sub)
    vm = compute.virtual_machines.get(rg, os.environ["VM_NAME"])
    print(f"{vm.hardware_profile.vm_size} -> {os.environ['SIZE']}")
    if os.environ.get("DRY_RUN") != "true":
        vm.hardware_profile.vm_size = os.environ["SIZE"]
        compute.virtual_machines.begin_create_or_update(rg, vm.name, vm).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
