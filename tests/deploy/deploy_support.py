"""What the deployment files must cover: every service of the repository that has a port."""

from __future__ import annotations

from pathlib import Path

from playbooks_platform.settings import PlatformSettings

REPO = Path(__file__).resolve().parents[2]


def service_folders() -> list[str]:
    """Services of the repository (one folder each under services/)."""
    return sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())


def known_settings(service: str) -> set[str]:
    """Every PLAYBOOKS_* variable the service reads (its settings class, or the shared one; secrets also as _FILE)."""
    from playbooks_platform.console import ConsoleSettings
    from playbooks_platform.service import installed_services, load_spec

    if service == "console":  # the console's server reads its own settings only
        return {f"PLAYBOOKS_CONSOLE_{name}".upper() for name in ConsoleSettings.model_fields}
    cls = load_spec(service).settings_cls if service in installed_services() else PlatformSettings
    prefix = cls.model_config.get("env_prefix", "")
    names = {f"{prefix}{name}".upper() for name in cls.model_fields}
    return names | {f"{prefix}{name}_FILE".upper() for name in cls.secret_setting_names()}
