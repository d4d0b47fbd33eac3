"""Create an on-demand Cloud SQL backup and report the backup settings."""

import os
import sys

from googleapiclient import discovery


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    del zone
    sql = discovery.build("sqladmin", "v1")
    sql.backupRuns().insert(
        project=project, instance=os.environ["INSTANCE"], body={"description": "on-demand"}
    ).execute()
    cfg = (
        sql.instances()
        .get(project=project, instance=os.environ["INSTANCE"])
        .execute()["settings"]["backupConfiguration"]
    )
    print(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
