"""What a route declares to get its settings, its caller and the caller's database transaction.

``async def route(principal: Operator, session: TenantSession, settings: SettingsDep)``: the
permission dependency (``playbooks_platform.permissions``) checks the caller, ``TenantSession`` is
a transaction row-level security confines to the caller's org, and each service's ``SettingsDep``
(``Annotated[MySettings, settings_of(MySettings)]``) its typed settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypeVar

from .auth import CurrentPrincipal
from .service import RuntimeDep
from .settings import PlatformSettings

_Settings = TypeVar("_Settings", bound=PlatformSettings)


def settings_of(settings_cls: type[_Settings]) -> Any:
    """``SettingsDep = Annotated[MySettings, settings_of(MySettings)]``: a route's typed settings."""

    async def settings(runtime: RuntimeDep) -> _Settings:  # async: no thread hop (see get_runtime)
        if not isinstance(runtime.settings, settings_cls):
            raise TypeError(f"{runtime.spec.name} runs with {type(runtime.settings).__name__}, not {settings_cls}")
        return runtime.settings

    return Depends(settings)


async def tenant_session(principal: CurrentPrincipal, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The caller's org's transaction, as ``Database.tenant_transaction`` opens it.

    It commits when the route has returned and its answer is serialised, before the answer is
    sent; an error raised in the route rolls it back and becomes problem+json as before.
    ``db.after_commit(session, action)`` runs ``action`` after that commit.
    """
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        yield session


# scope="function": the commit (and its errors) come before the response, not after it is sent.
TenantSession = Annotated[AsyncSession, Depends(tenant_session, scope="function")]
