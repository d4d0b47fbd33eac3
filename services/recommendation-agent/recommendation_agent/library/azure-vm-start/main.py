"""Start Azure VMs by name or tag."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    compute = ComputeManagementClient(cred, sub)
    names = [n for n in os.environ.get("VM_NAMES", "").split(",") if n]
    if not names:
        key, _, value = os.environ.get("TAG", "schedule=office-hours").partition("=")
        names = [vm.name for vm in compute.virtual_machines.list(rg) if (vm.tags or {}).get(key) == value]
    for name in names:
        if os.environ.get("DRY_RUN") != "true":
            compute.virtual_machines.begin_start(rg, name).result()
        print(f"started {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
