"""Signed, expiring artifact URLs served by this service (HMAC-SHA256).

The MAC covers the method, the path (which names the org), the key id, the expiry and, for an
upload, a nonce the service records on first use, so an upload URL works once. Keys rotate: one
current key signs, older ones (by id) still verify until the operator removes them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from playbooks_platform.errors import Forbidden


@dataclass(frozen=True)
class Keyring:
    """The key that signs (``current``) and every key that verifies, by id."""

    current: str
    keys: dict[str, str]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"the current key id {self.current!r} has no key")


def _mac(secret: str, method: str, path: str, kid: str, expires: int, nonce: str) -> str:
    message = f"{method.upper()}\n{path}\n{kid}\n{expires}\n{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def upload_path(tenant: str, playbook_id: str, version: str, file: str) -> str:
    return f"/api/artifacts/upload/{quote(tenant)}/{quote(playbook_id)}/{quote(version)}/{quote(file, safe='/')}"


def download_path(tenant: str, sha256: str) -> str:
    return f"/api/artifacts/{quote(tenant)}/{quote(sha256)}"


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def sign(
    keyring: Keyring, method: str, path: str, ttl_s: int, *, nonce: str = "", now: float | None = None
) -> tuple[str, int]:
    """``path?kid=..&expires=..[&nonce=..]&signature=..`` signed with the current key, and the expiry (unix s)."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    kid = keyring.current
    params: dict[str, str | int] = {"kid": kid, "expires": expires}
    if nonce:
        params["nonce"] = nonce
    params["signature"] = _mac(keyring.keys[kid], method, path, kid, expires, nonce)
    return f"{path}?{urlencode(params)}", expires


def verify(
    keyring: Keyring,
    method: str,
    path: str,
    *,
    kid: str,
    expires: int,
    signature: str,
    nonce: str = "",
    now: float | None = None,
) -> None:
    """Refuse an unknown key, a tampered or an expired URL (constant-time comparison)."""
    secret = keyring.keys.get(kid)
    if secret is None:
        raise Forbidden(f"the URL was signed with key {kid!r}, which this service does not accept: request a new one")
    if not hmac.compare_digest(_mac(secret, method, path, kid, expires, nonce), signature):
        raise Forbidden("the URL signature does not match: request a new signed URL")
    if (now if now is not None else time.time()) > expires:
        raise Forbidden("the signed URL has expired: request a new one")
