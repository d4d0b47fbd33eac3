"""Change the service objective of an Azure SQL database."""

import os
import sys

from azure.identity import DefaultAzureCredential
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.sql.models import DatabaseUpdate, Sku


def main() -> int:
    cred, sub = DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"]
    rg = os.environ["RESOURCE_GROUP"]
    sql = SqlManagementClient(cred, sub)
    db = sql.databases.get(rg, os.environ["SERVER"], os.environ["DATABASE"])
    print(f"{db.current_service_objective_name} -> {os.environ['SERVICE_OBJECTIVE']}")
    if os.environ.get("DRY_RUN") != "true":
        update = DatabaseUpdate(sku=Sku(name=os.environ["SERVICE_OBJECTIVE"]))
        sql.databases.begin_update(rg, os.environ["SERVER"], os.environ["DATABASE"], update).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
