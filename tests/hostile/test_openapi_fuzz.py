"""schemathesis against every service's own OpenAPI document, each service its own process.

Whatever the generated request (valid, or breaking the schema on purpose), no response is a 5xx
and every response matches what the document promises. FUZZ_EXAMPLES and FUZZ_SECONDS (per
service) trade depth for time; CI keeps the defaults.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks_dev.testing import Infra, ServiceProcess
from playbooks_platform.service import installed_services, load_spec

WITH_API = [name for name in installed_services() if load_spec(name).routers]
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


@pytest.mark.parametrize("service", WITH_API)
async def test_no_server_error_and_responses_match_the_schema(
    infra: Infra, service: str, org: str, tmp_path: Path
) -> None:
    proc = await ServiceProcess(service, infra, tmp_path).start()
    try:
        await proc.ready()
        token = infra.token(org, roles=["admin", "approver"])
        cmd = [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{proc.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("FUZZ_EXAMPLES", "10"),
            "--seed",
            "20261123",
            "--max-time",
            os.environ.get("FUZZ_SECONDS", "30"),
            "--request-timeout",
            "20",
            "--warnings",
            "off",
            "--no-color",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        proc.stop()
