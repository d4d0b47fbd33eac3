"""Enable versioning and default encryption on a bucket."""

import os
import sys

import boto3


def main() -> int:
    s3 = boto3.client("s3")
    bucket, key = os.environ["BUCKET"], os.environ.get("KMS_KEY_ID", "")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if key else {"SSEAlgorithm": "AES256"}
    s3.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
