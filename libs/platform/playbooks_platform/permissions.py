"""Who may do what: roles grant permissions, and every route declares the one it needs.

Tokens carry roles (``playbooks token --role``); routes never test roles, they declare a
``Permission`` with :func:`requires`, so the matrix below is the one place that says which role
may do what. A 403 names the permission missing and the roles that grant it.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from .auth import CurrentPrincipal, Principal
from .errors import Forbidden


class Permission(StrEnum):
    READ = "read"  # see the org's playbooks, runbooks, runs, exceptions, traces
    PUBLISH = "publish"  # post events into the platform (upstream systems)
    WRITE = "write"  # create and change drafts of playbooks and runbooks; compile guides
    OPERATE = "operate"  # dry-run and replay runs, advance runs, submit evidence, drive exception steps
    RUN = "run"  # start real runs (commands execute)
    APPROVE = "approve"  # approve or reject a run's gate
    REVIEW = "review"  # review a publication (someone else's playbook version)
    ADMIN = "admin"  # the org's policy: commands, approval floor, packs; everything else


# The matrix, documented in the README. Roles are not nested: a token holds every role it needs.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ}),
    "publisher": frozenset({Permission.PUBLISH}),
    "author": frozenset({Permission.READ, Permission.WRITE}),
    "operator": frozenset({Permission.READ, Permission.OPERATE}),
    "runner": frozenset({Permission.READ, Permission.OPERATE, Permission.RUN}),
    "approver": frozenset({Permission.READ, Permission.APPROVE}),
    "reviewer": frozenset({Permission.READ, Permission.REVIEW}),
    # an automation's own service token: it publishes, reads and drives steps, never approves
    "agent": frozenset({Permission.READ, Permission.PUBLISH, Permission.OPERATE}),
    "admin": frozenset(Permission),
}


def permissions_of(roles: frozenset[str] | set[str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def roles_granting(permission: Permission) -> list[str]:
    return sorted(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


def has(principal: Principal, permission: Permission) -> bool:
    return permission in permissions_of(principal.roles)


def check(principal: Principal, permission: Permission, *, doing: str | None = None) -> None:
    """403 naming the permission missing (for checks that depend on the body, e.g. a real run)."""
    if has(principal, permission):
        return
    what = f" to {doing}" if doing else ""
    raise Forbidden(
        f"you need the permission {permission.value!r}{what}; it comes with the role(s) "
        f"{', '.join(roles_granting(permission))}, and your token has {', '.join(sorted(principal.roles)) or 'none'}",
        permission=permission.value,
    )


class PermissionChecker:
    """The dependency a route declares; the OpenAPI document and the auth matrix test read it."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        # Through Depends: a request verifies its token once, however many dependencies need the caller.
        check(principal, self.permission)
        return principal

    def __repr__(self) -> str:
        return f"requires({self.permission.value})"


_CHECKERS = {p: PermissionChecker(p) for p in Permission}


def requires(permission: Permission) -> Any:
    """``principal: Annotated[Principal, requires(Permission.RUN)]``: the caller, checked."""
    return Depends(_CHECKERS[permission])


# The common ones, ready to annotate a route parameter with.
Reader = Annotated[Principal, requires(Permission.READ)]
Publisher = Annotated[Principal, requires(Permission.PUBLISH)]
Writer = Annotated[Principal, requires(Permission.WRITE)]
Operator = Annotated[Principal, requires(Permission.OPERATE)]
Runner = Annotated[Principal, requires(Permission.RUN)]
Approver = Annotated[Principal, requires(Permission.APPROVE)]
Reviewer = Annotated[Principal, requires(Permission.REVIEW)]
Admin = Annotated[Principal, requires(Permission.ADMIN)]


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of the app, with its full path (``path_format``), ``methods``, ``include_in_schema``.

    FastAPI keeps an included router as one wrapper in ``app.routes``; its routes are reached through
    their contexts, the way FastAPI's own OpenAPI builder reaches them.
    """
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def route_permission(route: Any) -> Permission | None:
    """The permission a route (an APIRoute or a context from :func:`api_routes`) declares, or None."""
    original = getattr(route, "original_route", route)
    stack = [original.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, PermissionChecker):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def document_permissions(app: FastAPI) -> None:
    """Each operation in the OpenAPI document says the permission it needs (``x-permission``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            permission = route_permission(route)
            if permission is None:
                continue
            for method in route.methods:
                op = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if op is not None:
                    op["x-permission"] = permission.value
                    roles = ", ".join(roles_granting(permission))
                    note = f"Needs the permission `{permission.value}` (roles: {roles})."
                    op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
