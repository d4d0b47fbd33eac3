"""Set reserved concurrency on a Lambda function."""

import os
import sys

import boto3


def main() -> int:
    lam = boto3.client("lambda", region_name=os.environ["REGION"])
    print("before:", lam.get_function_concurrency(FunctionName=os.environ["FUNCTION_NAME"]))
    if os.environ.get("DRY_RUN") != "true":
        lam.put_function_concurrency(
            FunctionName=os.environ["FUNCTION_NAME"],
            ReservedConcurrentExecutions=int(os.environ.get("RESERVED_CONCURRENCY", "0")),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
