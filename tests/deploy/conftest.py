"""What the deployment files must cover: every service of the repository that has a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks_platform.settings import SERVICE_PORTS, PlatformSettings

REPO = Path(__file__).resolve().parents[2]


def service_folders() -> list[str]:
    """Services of the repository (one folder each under services/)."""
    return sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())


def known_settings(service: str) -> set[str]:
    """Every PLAYBOOKS_* variable the service reads (its settings class, or the shared one)."""
    from playbooks_platform.service import installed_services, load_spec

    cls = load_spec(service).settings_cls if service in installed_services() else PlatformSettings
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def services_with_ports() -> list[str]:
    """The services that must be deployable: each has a folder and a port in SERVICE_PORTS."""
    names = [n for n in service_folders() if n in SERVICE_PORTS]
    assert names, "no service found under services/"
    return names
