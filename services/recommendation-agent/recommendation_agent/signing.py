"""Signed, expiring artifact URLs served by this service (HMAC-SHA256 over method, path and expiry)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

from playbooks_platform.errors import Forbidden


def _mac(secret: str, method: str, path: str, expires: int) -> str:
    message = f"{method.upper()}\n{path}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def upload_path(tenant: str, playbook_id: str, version: str, file: str) -> str:
    return f"/api/artifacts/upload/{quote(tenant)}/{quote(playbook_id)}/{quote(version)}/{quote(file, safe='/')}"


def download_path(tenant: str, sha256: str) -> str:
    return f"/api/artifacts/{quote(tenant)}/{quote(sha256)}"


def sign(secret: str, method: str, path: str, ttl_s: int, now: float | None = None) -> tuple[str, int]:
    """``path?expires=..&signature=..`` and the expiry (unix seconds)."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    query = urlencode({"expires": expires, "signature": _mac(secret, method, path, expires)})
    return f"{path}?{query}", expires


def verify(secret: str, method: str, path: str, expires: int, signature: str, now: float | None = None) -> None:
    """Refuse a tampered or expired URL (constant-time comparison)."""
    expected = _mac(secret, method, path, expires)
    if not hmac.compare_digest(expected, signature):
        raise Forbidden("the URL signature does not match: request a new signed URL")
    if (now if now is not None else time.time()) > expires:
        raise Forbidden("the signed URL has expired: request a new one")
