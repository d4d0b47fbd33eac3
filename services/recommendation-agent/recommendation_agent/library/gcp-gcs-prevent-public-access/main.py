"""Enforce public access prevention on a bucket."""

import os
import sys

from google.cloud import storage


def main() -> int:
    project, zone = os.environ["PROJECT"], os.environ["ZONE"]
    del zone
    bucket = storage.Client(project=project).get_bucket(os.environ["BUCKET"])
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.patch()
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings = [b for b in policy.bindings if not {"allUsers", "allAuthenticatedUsers"} & set(b["members"])]
    bucket.set_iam_policy(policy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
