"""Every operation of every service refuses callers who are not who they claim.

Driven by each service's own OpenAPI document, so a new endpoint is covered the day it exists:
no token, a token signed with another key, an expired token, a token for another audience, and
a token whose payload was edited after signing all get 401 problem+json, never data; a tenant
named in the path that is not the token's gets 403 or 404.

And who may do what: every operation declares the permission it needs (``x-permission``; only
``/whoami`` is for any caller), a token whose roles lack it gets a 403 naming it, and a token with
nothing but one role that grants it gets past the check. A new route without a permission fails here.
"""

from __future__ import annotations

import base64
import json
import re
import uuid

import jwt
import pytest

from playbooks_contracts.runbook import RUNBOOK_SCHEMA_PATH
from playbooks_dev.testing import Infra, running_service
from playbooks_platform.permissions import ROLE_PERMISSIONS, Permission, api_routes, roles_granting, route_permission
from playbooks_platform.service import installed_services, load_spec

# The runbook JSON Schema is public like the OpenAPI document: editors fetch it without a token.
OPEN = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    RUNBOOK_SCHEMA_PATH,
}
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


# Any signed-in caller may ask who they are (the console reads its buttons from it).
ANY_CALLER = {"/whoami"}
# Routes outside the OpenAPI document that a capability URL authorises instead of a token (HMAC-signed,
# single purpose); each is named here so that a new one is a decision, not an accident.
SIGNED_URL_ROUTES = {
    ("recommendation-agent", "/api/artifacts/upload/{tenant_id}/{playbook_id}/{version}/{file}"),
    ("recommendation-agent", "/api/artifacts/{tenant_id}/{sha256}"),
}


def operations_of(app) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, op)
        for path, item in app.openapi()["paths"].items()
        if path not in OPEN
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def own_path(template: str, org: str) -> str:
    """A path template filled for the token's own tenant (so the tenant check passes and the permission decides)."""
    return concrete(re.sub(r"\{(tenant_id|org[_a-z]*)\}", org, template))


def lacking(permission: Permission) -> list[str]:
    """Every role that does not grant the permission (the strongest token that still lacks it)."""
    return [*sorted(role for role, granted in ROLE_PERMISSIONS.items() if permission not in granted), "no-such-role"]


@pytest.mark.parametrize("service", WITH_API)
async def test_every_operation_declares_and_enforces_a_permission(infra: Infra, service: str, org: str) -> None:
    async with running_service(service, infra) as (client, _, app):
        undeclared = [f"{m} {p}" for m, p, op in operations_of(app) if p not in ANY_CALLER and "x-permission" not in op]
        hidden = [
            f"{sorted(r.methods)} {r.path_format}"
            for r in api_routes(app)
            if not r.include_in_schema
            and r.path_format not in OPEN
            and (service, r.path_format) not in SIGNED_URL_ROUTES
            and route_permission(r) is None
        ]
        assert not undeclared and not hidden, (
            f"{service}: every operation declares the permission it needs (principal: Reader, Writer, ... from "
            f"playbooks_platform.permissions); these do not: {undeclared + hidden}"
        )
        checked = 0
        for method, template, op in operations_of(app):
            path = own_path(template, org)
            if template in ANY_CALLER:
                for role in ROLE_PERMISSIONS:
                    r = await client.request(method, path, headers=infra.auth(org, user_id="u", roles=[role]))
                    assert r.status_code == 200, f"{method} {template} as {role}: {r.status_code}"
                    assert set(r.json()["permissions"]) == {p.value for p in ROLE_PERMISSIONS[role]}
                continue
            permission = Permission(op["x-permission"])
            without = lacking(permission)
            r = await client.request(method, path, headers=infra.auth(org, user_id="u", roles=without), json={})
            assert r.status_code == 403, f"{method} {template} without {permission}: {r.status_code} {r.text[:200]}"
            assert r.headers["content-type"].startswith("application/problem+json")
            problem = r.json()
            assert problem["permission"] == permission.value and repr(permission.value) in problem["detail"], problem
            for role in roles_granting(permission):
                r = await client.request(method, path, headers=infra.auth(org, user_id="u", roles=[role]), json={})
                assert r.status_code not in (401, 403), (
                    f"{method} {template} as {role!r} (grants {permission}): {r.status_code} {r.text[:200]}"
                )
            checked += 1
        assert checked, f"{service} has no operation that needs a permission"
