"""A bearer token is checked with a small, configurable clock-skew leeway."""

from __future__ import annotations

import time

import jwt
import pytest

from playbooks_platform.auth import TokenVerifier
from playbooks_platform.errors import Unauthorized
from playbooks_platform.settings import DEV_JWT_SECRET, PlatformSettings


def token(settings: PlatformSettings, **times: int) -> str:
    now = int(time.time())
    claims = {"sub": "u", "org": "org-1", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "exp": now + 60}
    claims |= {k: now + v for k, v in times.items()}
    return jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")


async def test_default_leeway_accepts_a_token_that_expired_a_few_seconds_ago() -> None:
    settings = PlatformSettings()
    assert settings.jwt_leeway_s == 30
    principal = await TokenVerifier(settings).verify(token(settings, exp=-10))
    assert principal.org_id == "org-1"


async def test_beyond_the_leeway_an_expired_token_is_refused() -> None:
    settings = PlatformSettings()
    with pytest.raises(Unauthorized, match="expired"):
        await TokenVerifier(settings).verify(token(settings, exp=-45))


async def test_leeway_covers_a_token_issued_by_a_clock_slightly_ahead() -> None:
    settings = PlatformSettings()
    await TokenVerifier(settings).verify(token(settings, iat=20, nbf=20))
    with pytest.raises(Unauthorized, match="not valid"):
        await TokenVerifier(settings).verify(token(settings, iat=120, nbf=120))


async def test_leeway_is_configurable_down_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBOOKS_JWT_LEEWAY_S", "0")
    settings = PlatformSettings()
    with pytest.raises(Unauthorized, match="expired"):
        await TokenVerifier(settings).verify(token(settings, exp=-2))


def test_a_leeway_of_minutes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBOOKS_JWT_LEEWAY_S", "3600")
    with pytest.raises(ValueError, match="less than or equal to 300"):
        PlatformSettings()
