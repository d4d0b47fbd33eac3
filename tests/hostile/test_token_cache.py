"""The token verifier remembers tokens it found valid: what it remembers must never let a token
do more than a full check would (expired, tampered, another org's), and it must stay bounded."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from playbooks_platform.auth import TokenVerifier
from playbooks_platform.errors import Unauthorized
from playbooks_platform.settings import DEV_JWT_SECRET, PlatformSettings


def token(settings: PlatformSettings, org: str = "org-a", exp_in: float = 60, **claims: object) -> str:
    body = {"sub": "u", "org": org, "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    return jwt.encode(body | {"exp": int(time.time() + exp_in)} | claims, DEV_JWT_SECRET, algorithm="HS256")


async def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBOOKS_JWT_LEEWAY_S", "0")
    settings = PlatformSettings()
    verifier = TokenVerifier(settings)
    short = token(settings, exp_in=2)
    assert (await verifier.verify(short)).org_id == "org-a"
    assert (await verifier.verify(short)).org_id == "org-a"  # from memory
    await asyncio.sleep(3.1)  # exp is whole seconds: 2 to 3 s from now
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(short)
    assert short not in verifier._seen


async def test_a_tampered_copy_of_a_remembered_token_is_refused() -> None:
    settings = PlatformSettings()
    verifier = TokenVerifier(settings)
    good = token(settings, roles=["viewer"])
    await verifier.verify(good)
    header, _payload, signature = good.split(".")
    # The same signature over a payload that claims another org and the admin role.
    claims = {"sub": "u", "org": "org-b", "roles": ["admin"], "iss": "playbooks", "aud": "playbooks", "exp": 9e9}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for forged in (f"{header}.{forged_payload}.{signature}", good[:-2] + ("AA" if good[-2:] != "AA" else "BB")):
        with pytest.raises(Unauthorized, match="not valid"):
            await verifier.verify(forged)
        assert forged not in verifier._seen
    assert (await verifier.verify(good)).roles == frozenset({"viewer"})


async def test_each_token_gets_its_own_principal_and_the_memory_is_bounded() -> None:
    settings = PlatformSettings()
    verifier = TokenVerifier(settings, cache_size=3)
    tokens = {f"org-{i}": token(settings, org=f"org-{i}") for i in range(10)}
    for _ in range(2):
        for org, t in tokens.items():
            assert (await verifier.verify(t)).org_id == org
    assert len(verifier._seen) == 3
