"""Export an Azure SQL database to BACPAC."""

import os
import sys
import time

from azure.identity import DefaultAzureCredential
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.sql.models import ExportDatabaseDefinition


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    sql = SqlManagementClient(cred, sub)
    uri = f"{os.environ['STORAGE_URI']}/{os.environ['DATABASE']}-{time.strftime('%Y%m%d%H%M%S')}.bacpac"
    body = ExportDatabaseDefinition(
        storage_key_type="StorageAccessKey",
        storage_key=os.environ["STORAGE_KEY"],
        storage_uri=uri,
        administrator_login=os.environ["SQL_ADMIN_USER"],
        administrator_login_password=os.environ["SQL_ADMIN_PASSWORD"],
    )
    sql.databases.begin_export(rg, os.environ["SERVER"], os.environ["DATABASE"], body).result()
    print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
