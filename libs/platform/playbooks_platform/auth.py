"""JWT bearer auth: a principal with org id, user id and roles.

HS256 with a shared secret by default (the dev stack's ``playbooks token`` signs with it);
with ``PLAYBOOKS_JWT_JWKS_URL`` set, tokens are checked against the identity provider's keys.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic import ValidationError

from playbooks_contracts.base import ORG_ID_PATTERN

from .errors import Forbidden, Unauthorized
from .settings import PlatformSettings


@dataclass(frozen=True)
class Principal:
    org_id: str
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def require_role(self, *roles: str) -> None:
        if not self.roles.intersection(roles):
            raise Forbidden(f"this action needs one of the roles {sorted(roles)}; the token has {sorted(self.roles)}")


def issue_token(
    settings: PlatformSettings,
    *,
    org_id: str,
    user_id: str = "dev-user",
    roles: list[str] | None = None,
    ttl_s: int = 12 * 3600,
) -> str:
    """A signed token the services accept (dev stack, tests, tools)."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "org": org_id,
        "roles": roles or ["admin"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


class TokenVerifier:
    """Checks bearer tokens; a token seen valid is remembered, by its exact text, until it expires.

    A client sends the same token with every request; checking its signature and claims again (and,
    with a JWKS, a thread hop to find its key) was a visible share of a small request's cost. Only
    tokens that passed every check are kept, each until its own ``exp`` (plus the leeway), at most
    ``cache_size`` of them (the oldest go first)."""

    def __init__(self, settings: PlatformSettings, *, cache_size: int = 4096) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._cache_size = cache_size
        self._seen: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        seen = self._seen.get(token)
        if seen is not None:
            if time.time() <= seen[1]:
                return seen[0]
            del self._seen[token]  # expired: the full check below says so
        principal, expires = await self._check(token)
        if len(self._seen) >= self._cache_size:
            del self._seen[next(iter(self._seen))]
        self._seen[token] = (principal, expires)
        return principal

    async def _check(self, token: str) -> tuple[Principal, float]:
        try:
            if self._jwks is not None:
                key: Any = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self.settings.jwt_secret.get_secret_value(), ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_s,
                options={"require": ["exp", "sub", "org"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bearer token has expired; get a new one") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from None
        org = claims.get("org")
        if not isinstance(org, str) or not _ORG.match(org):
            raise Unauthorized("the bearer token has no valid 'org' claim")
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("the 'roles' claim must be a list")
        principal = Principal(org_id=org, user_id=str(claims["sub"]), roles=frozenset(map(str, roles)))
        return principal, float(claims["exp"]) + self.settings.jwt_leeway_s


_ORG = re.compile(ORG_ID_PATTERN)


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    verifier: TokenVerifier = request.app.state.runtime.verifier
    try:
        principal = await verifier.verify(token.strip())
    except ValidationError as exc:  # pragma: no cover - defensive
        raise Unauthorized(str(exc)) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def same_tenant(principal: Principal, path_tenant: str) -> None:
    """A path that names a tenant must name the caller's own."""
    if path_tenant != principal.org_id:
        raise Forbidden(f"the token is for org {principal.org_id!r}, not {path_tenant!r}")
