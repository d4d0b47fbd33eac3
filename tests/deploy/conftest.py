"""Fixtures of the deployment tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import REPO, service_folders

from playbooks_platform.settings import SERVICE_PORTS


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def services_with_ports() -> list[str]:
    """The services that must be deployable: each has a folder and a port in SERVICE_PORTS."""
    names = [n for n in service_folders() if n in SERVICE_PORTS]
    assert names, "no service found under services/"
    return names
