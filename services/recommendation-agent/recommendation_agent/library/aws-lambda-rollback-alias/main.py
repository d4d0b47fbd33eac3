"""Move a Lambda alias back to the previous version."""

import os
import sys

import boto3


def main() -> int:
    lam = boto3.client("lambda", region_name=os.environ["REGION"])
    fn, alias = os.environ["FUNCTION_NAME"], os.environ.get("ALIAS", "prod")
    current = int(lam.get_alias(FunctionName=fn, Name=alias)["FunctionVersion"])
    target = os.environ.get("TARGET_VERSION") or str(current - 1)
    print(f"alias {alias}: {current} -> {target}")
    if os.environ.get("DRY_RUN") != "true":
        lam.update_alias(FunctionName=fn, Name=alias, FunctionVersion=target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
