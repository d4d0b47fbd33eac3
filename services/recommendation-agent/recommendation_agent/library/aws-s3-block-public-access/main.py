"""Enable S3 Block Public Access on a bucket."""

import os
import sys

import boto3


def main() -> int:
    s3 = boto3.client("s3", region_name=os.environ["REGION"])
    flags = dict.fromkeys(["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"], True)
    s3.put_public_access_block(Bucket=os.environ["BUCKET"], PublicAccessBlockConfiguration=flags)
    s3.put_bucket_acl(Bucket=os.environ["BUCKET"], ACL="private")
    return 0


if __name__ == "__main__":
    sys.exit(main())
