"""Back up and stop a Cloud SQL instance."""

import os
import sys

from googleapiclient import discovery


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    del zone
    sql = discovery.build("sqladmin", "v1")
    instance = os.environ["INSTANCE"]
    if os.environ.get("SKIP_BACKUP") != "true":
        sql.backupRuns().insert(project=project, instance=instance, body={}).execute()
    if os.environ.get("DRY_RUN") != "true":
        sql.instances().patch(
            project=project, instance=instance, body={"settings": {"activationPolicy": "NEVER"}}
        ).execute()
    return 0


if __name__ == "__main__":
    sys.exit(main())
