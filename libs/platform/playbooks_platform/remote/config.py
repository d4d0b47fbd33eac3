"""Where each service is and which token to send: environment first, then the file ``playbooks login`` wrote."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from ..settings import SERVICE_PORTS

TOKEN_VAR = "PLAYBOOKS_TOKEN"
BASE_VAR = "PLAYBOOKS_URL"


def url_var(service: str) -> str:
    """``PLAYBOOKS_RUNBOOK_RUNTIME_URL`` for ``runbook-runtime``."""
    return f"PLAYBOOKS_{service.upper().replace('-', '_')}_URL"


def service_url(service: str, env: Mapping[str, str] | None = None) -> str:
    """The service's own variable; else ``PLAYBOOKS_URL`` + ``/<service>`` (a gateway routing by path prefix,
    since two services both answer ``/api/playbooks``); else the dev stack's port on this host."""
    env = os.environ if env is None else env
    if own := env.get(url_var(service), "").strip():
        return own.rstrip("/")
    if base := env.get(BASE_VAR, "").strip():
        return f"{base.rstrip('/')}/{service}"
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    root = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(root) / "playbooks"


def token_file(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "token"


def load_token(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    if token := env.get(TOKEN_VAR, "").strip():
        return token
    with contextlib.suppress(OSError):
        return token_file(env).read_text().strip() or None
    return None


def save_token(token: str, env: Mapping[str, str] | None = None) -> Path:
    """Written readable by its owner only (0600), in a folder only its owner can list (0700)."""
    path = token_file(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask, and an existing folder keeps its own
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token.strip() + "\n")
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC: set it again
    return path


def forget_token(env: Mapping[str, str] | None = None) -> bool:
    path = token_file(env)
    if path.exists():
        path.unlink()
        return True
    return False
