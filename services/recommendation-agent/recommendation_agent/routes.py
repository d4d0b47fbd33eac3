"""HTTP API of recommendation-agent: search, lifecycle, stats, signed script upload and download.

Every route takes the tenant from the token; a path or body that names a tenant must name the same one.
The two artifact routes are authorised by their HMAC signature instead of a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from playbooks_contracts.base import ORG_ID_PATTERN
from playbooks_contracts.recommendation import (
    PLAYBOOK_ID_PATTERN,
    VERSION_PATTERN,
    DownloadGrant,
    FormatName,
    PlaybookStats,
    PlaybookVersionRead,
    PublishRequest,
    SearchRequest,
    SearchResponse,
    StatsUpdate,
    StatusChange,
    StatusHistoryEntry,
    UploadGrant,
    UploadRequest,
)
from playbooks_platform.auth import CurrentPrincipal, Principal, current_principal, same_tenant
from playbooks_platform.errors import NotFound, PayloadTooLarge
from playbooks_platform.service import RuntimeDep

from . import service, signing
from .engine import Engine
from .library import LIBRARY_TENANT, load_library
from .settings import RecommendationSettings

router = APIRouter(prefix="/api")

TenantId = Annotated[str, Path(pattern=ORG_ID_PATTERN, description="The caller's own org id")]
PlaybookIdPath = Annotated[str, Path(pattern=PLAYBOOK_ID_PATTERN)]
VersionPath = Annotated[str, Path(pattern=VERSION_PATTERN, description="Semantic version, e.g. 1.2.0")]

_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "Missing or invalid bearer token"}}
_TENANT: dict[int | str, dict[str, Any]] = _AUTH | {403: {"description": "The path names another tenant"}}
_ONE: dict[int | str, dict[str, Any]] = _TENANT | {404: {"description": "No such playbook version in the tenant"}}


def _engine(runtime: RuntimeDep) -> Engine:
    return runtime.state["engine"]  # type: ignore[no-any-return]


def _settings(runtime: RuntimeDep) -> RecommendationSettings:
    return runtime.settings  # type: ignore[return-value]


def _keyring(settings: RecommendationSettings) -> signing.Keyring:
    return signing.Keyring(current=settings.signing_key_id, keys=settings.signing_keys())


def _body_tenant(principal: Principal, tenant_id: str | None) -> None:
    if tenant_id is not None:
        same_tenant(principal, tenant_id)


@router.post("/playbook/search", tags=["search"], responses=_AUTH, summary="Ranked playbooks for a request in words")
async def search(body: SearchRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> SearchResponse:
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        return await _engine(runtime).search(session=session, org_id=principal.org_id, request=body)


@router.get("/playbook/library", tags=["search"], responses=_AUTH, summary="The global library (metadata only)")
async def library(principal: CurrentPrincipal) -> dict[str, list[dict[str, Any]]]:
    return {"items": [p.raw["metadata"] for p in load_library()]}


@router.post(
    "/playbook/metadata/publish",
    tags=["lifecycle"],
    status_code=status.HTTP_201_CREATED,
    responses=_TENANT | {409: {"description": "This version exists already"}, 422: {"description": "Invalid playbook"}},
    summary="Publish a tenant playbook version",
)
async def publish(body: PublishRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> PlaybookVersionRead:
    _body_tenant(principal, body.tenant_id)
    engine = _engine(runtime)
    org = principal.org_id
    async with runtime.database.tenant_transaction(org) as session:
        _, changed = await service.publish(
            session=session, org_id=org, document=body, actor=principal.user_id, model=engine.embedder.name
        )
    async with runtime.database.tenant_transaction(org) as session:
        await engine.refresh(session, org, changed)
        return await service.get_version(
            session=session, org_id=org, playbook_id=body.metadata.playbook_id, version=body.metadata.version
        )


@router.get(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}", tags=["lifecycle"], responses=_ONE, summary="One version"
)
async def get_version(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> PlaybookVersionRead:
    same_tenant(principal, tenant_id)
    async with runtime.database.tenant_transaction(tenant_id) as session:
        return await service.get_version(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)


@router.get(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}/history",
    tags=["lifecycle"],
    responses=_ONE,
    summary="Status history of a version",
)
async def get_history(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> list[StatusHistoryEntry]:
    same_tenant(principal, tenant_id)
    async with runtime.database.tenant_transaction(tenant_id) as session:
        return await service.history(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)


@router.post(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}/status",
    tags=["lifecycle"],
    responses=_ONE | {409: {"description": "Transition not allowed; the body lists the allowed targets"}},
    summary="Change the status of a version",
)
async def change_status(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    body: StatusChange,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> PlaybookVersionRead:
    same_tenant(principal, tenant_id)
    async with runtime.database.tenant_transaction(tenant_id) as session:
        changed = await service.change_status(
            session=session,
            org_id=tenant_id,
            playbook_id=playbook_id,
            version=version,
            to=body.status,
            reason=body.reason,
            actor=principal.user_id,
        )
    async with runtime.database.tenant_transaction(tenant_id) as session:
        await _engine(runtime).refresh(session, tenant_id, changed)
        return await service.get_version(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)


@router.delete(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}",
    tags=["lifecycle"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ONE,
    summary="Delete a version (and its point in the index)",
)
async def delete_version(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> Response:
    same_tenant(principal, tenant_id)
    async with runtime.database.tenant_transaction(tenant_id) as session:
        changed = await service.delete_version(
            session=session, org_id=tenant_id, playbook_id=playbook_id, version=version
        )
    async with runtime.database.tenant_transaction(tenant_id) as session:
        await _engine(runtime).refresh(session, tenant_id, changed)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/playbook/stats/{tenant_id}/{playbook_id}/{version}",
    tags=["stats"],
    responses=_ONE,
    summary="Record one execution (success or failure)",
)
async def record_stats(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    body: StatsUpdate,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> PlaybookStats:
    same_tenant(principal, tenant_id)
    async with runtime.database.tenant_transaction(tenant_id) as session:
        stats, changed = await service.record_execution(
            session=session,
            org_id=tenant_id,
            playbook_id=playbook_id,
            version=version,
            success=body.success,
            run_id=body.run_id,
            duration_ms=body.duration_ms,
            error=body.error,
            broken_after=_settings(runtime).broken_after_failures,
        )
    async with runtime.database.tenant_transaction(tenant_id) as session:
        await _engine(runtime).refresh(session, tenant_id, [*changed, (playbook_id, version)])
    return stats


@router.post(
    "/playbook/upload/request",
    tags=["artifacts"],
    responses=_TENANT,
    summary="Signed upload URLs per file",
    description="Each URL accepts one `PUT` of the file's bytes until `expires_at` (no token needed: the URL is "
    "signed with HMAC-SHA256); the answer names the sha256 checksum to reference in the published document.",
)
async def upload_request(body: UploadRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> UploadGrant:
    _body_tenant(principal, body.tenant_id)
    settings = _settings(runtime)
    keyring = _keyring(settings)
    urls: dict[str, str] = {}
    expires = 0
    for file in body.files:
        path = signing.upload_path(principal.org_id, body.playbook_id, body.version, file)
        nonce = signing.new_nonce()
        signed, expires = signing.sign(keyring, "PUT", path, settings.upload_url_ttl_s, nonce=nonce)
        urls[file] = settings.public_base_url.rstrip("/") + signed
    return UploadGrant(urls=urls, expires_at=expires)


# The two artifact routes are capability URLs (like presigned object-store URLs): the HMAC signature is the
# credential, so they stay out of the OpenAPI document of the token-authenticated API. The grants that hand them
# out (``/api/playbook/upload/request``, ``/api/script/download``) are documented and need a token.
@router.put(
    "/artifacts/upload/{tenant_id}/{playbook_id}/{version}/{file:path}",
    include_in_schema=False,
    tags=["artifacts"],
    responses={403: {"description": "Bad or expired signature"}, 413: {"description": "Too large"}},
    summary="Upload one script through a signed URL",
)
async def upload_artifact(
    tenant_id: str,
    playbook_id: str,
    version: str,
    file: str,
    request: Request,
    runtime: RuntimeDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
    kid: Annotated[str, Query(max_length=32)],
    nonce: Annotated[str, Query(min_length=16, max_length=64)],
) -> dict[str, Any]:
    settings = _settings(runtime)
    path = signing.upload_path(tenant_id, playbook_id, version, file)
    signing.verify(_keyring(settings), "PUT", path, kid=kid, expires=expires, signature=signature, nonce=nonce)
    # The URL is the credential; a caller who also sends a token must be uploading into the token's own org.
    if request.headers.get("authorization"):
        same_tenant(await current_principal(request), tenant_id)
    content = await request.body()
    if len(content) > settings.max_artifact_bytes:
        raise PayloadTooLarge(f"a script may have at most {settings.max_artifact_bytes} bytes")
    async with runtime.database.tenant_transaction(tenant_id) as session:
        await service.consume_upload_nonce(session=session, org_id=tenant_id, nonce=nonce, expires=expires)
        digest = await service.store_artifact(session=session, org_id=tenant_id, content=content)
    return {"file": file, "checksum": digest, "size_bytes": len(content)}


@router.get(
    "/script/download",
    tags=["artifacts"],
    responses=_ONE,
    summary="Signed download URL of a script",
    description="The URL answers one `GET` with the script's bytes until `expires_at`; verify them against `checksum`.",
)
async def script_download(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    playbook_id: Annotated[str, Query(pattern=PLAYBOOK_ID_PATTERN)],
    version: Annotated[str, Query(pattern=VERSION_PATTERN)],
    format: FormatName = "shell",
    tenant_id: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
) -> DownloadGrant:
    _body_tenant(principal, tenant_id)
    settings = _settings(runtime)
    async with runtime.database.tenant_transaction(principal.org_id) as session:
        owner, entry = await service.script_of(
            session=session, org_id=principal.org_id, playbook_id=playbook_id, version=version, fmt=format
        )
    path = signing.download_path(owner, entry["checksum"])
    signed, expires = signing.sign(_keyring(settings), "GET", path, settings.download_url_ttl_s)
    return DownloadGrant(
        url=settings.public_base_url.rstrip("/") + signed,
        checksum=entry["checksum"],
        size_bytes=entry["size_bytes"],
        expires_at=expires,
    )


@router.get(
    "/artifacts/{tenant_id}/{sha256}",
    include_in_schema=False,
    tags=["artifacts"],
    responses={403: {"description": "Bad or expired signature"}, 404: {"description": "No such artifact"}},
    summary="Download one script through a signed URL",
)
async def download_artifact(
    tenant_id: str,
    sha256: str,
    runtime: RuntimeDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
    kid: Annotated[str, Query(max_length=32)],
) -> Response:
    path = signing.download_path(tenant_id, sha256)
    signing.verify(_keyring(_settings(runtime)), "GET", path, kid=kid, expires=expires, signature=signature)
    if tenant_id == LIBRARY_TENANT:
        content = _engine(runtime).library_artifacts.get(sha256)
        if content is None:
            raise NotFound(f"no library artifact {sha256}")
    else:
        async with runtime.database.tenant_transaction(tenant_id) as session:
            content = await service.get_artifact(session=session, org_id=tenant_id, sha256=sha256)
    return Response(content, media_type="text/plain; charset=utf-8", headers={"X-Checksum-Sha256": sha256})
