"""Every operation of every service refuses callers who are not who they claim.

Driven by each service's own OpenAPI document, so a new endpoint is covered the day it exists:
no token, a token signed with another key, an expired token, a token for another audience, and
a token whose payload was edited after signing all get 401 problem+json, never data; a tenant
named in the path that is not the token's gets 403 or 404.
"""

from __future__ import annotations

import base64
import json
import re
import uuid

import jwt
import pytest

from playbooks_platform.service import installed_services, load_spec
from playbooks_platform.testing import Infra, running_service

OPEN = {"/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
WITH_API = [name for name in installed_services() if load_spec(name).routers]


def forged_tokens(infra: Infra, org: str) -> dict[str, str]:
    settings = infra.settings()
    good = infra.token(org)
    claims = jwt.decode(good, options={"verify_signature": False})
    secret = settings.jwt_secret.get_secret_value()
    header, _, signature = good.split(".")
    other_org = base64.urlsafe_b64encode(json.dumps(claims | {"org": "someone-else"}).encode()).rstrip(b"=")
    return {
        "other key": jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256"),
        "expired": jwt.encode(claims | {"exp": claims["iat"] - 60}, secret, algorithm="HS256"),
        "other audience": jwt.encode(claims | {"aud": "another-system"}, secret, algorithm="HS256"),
        "payload edited": f"{header}.{other_org.decode()}.{signature}",
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "garbage": "not-a-jwt",
    }


def concrete(path: str) -> str:
    """A path template with every parameter filled (ids that exist nowhere)."""
    return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()), path)


@pytest.mark.parametrize("service", WITH_API)
async def test_every_operation_refuses_bad_credentials(infra: Infra, service: str, org: str) -> None:
    async with running_service(service, infra) as (client, _, app):
        operations = [
            (method.upper(), path)
            for path, item in app.openapi()["paths"].items()
            if path not in OPEN
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        ]
        assert operations, f"{service} has no operations"
        credentials = {"no token": None} | forged_tokens(infra, org)
        for method, template in operations:
            path = concrete(template)
            for label, token in credentials.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                r = await client.request(method, path, headers=headers, json={})
                assert r.status_code == 401, f"{method} {template} with {label}: {r.status_code} {r.text[:200]}"
                assert r.headers["content-type"].startswith("application/problem+json")
            # The same request with a good token gets past authentication (the matrix is not vacuous).
            r = await client.request(method, path, headers=infra.auth(org), json={})
            assert r.status_code != 401, f"{method} {template} refused a valid token: {r.text[:200]}"
            if re.search(r"\{org[_a-z]*\}", template):  # a tenant in the path must be the token's
                other = re.sub(r"\{org[_a-z]*\}", "someone-else", template)
                r = await client.request(method, concrete(other), headers=infra.auth(org), json={})
                assert r.status_code in (403, 404), f"{method} {template} for another org: {r.status_code}"
