"""Disable anonymous blob access on a storage account."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import StorageAccountUpdateParameters


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    storage = StorageManagementClient(cred, sub)
    update = StorageAccountUpdateParameters(
        allow_blob_public_access=False, minimum_tls_version="TLS1_2", enable_https_traffic_only=True
    )
    storage.storage_accounts.update(rg, os.environ["ACCOUNT_NAME"], update)
    return 0


if __name__ == "__main__":
    sys.exit(main())
