"""HTTP API of recommendation-agent: search, lifecycle, stats, signed script upload and download.

Every route takes the tenant from the token; a path or body that names a tenant must name the same one.
The two artifact routes are authorised by their HMAC signature instead of a token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from playbooks_contracts.base import ORG_ID_PATTERN, json_dict
from playbooks_contracts.clones import (
    AuditEntry,
    CloneRequest,
    CloneSummary,
    OrgPlaybookRead,
    ProposalRead,
    ProposalRejection,
    RollbackRequest,
    TemplateUpdateDecision,
    TemplateUpdateResult,
    VersionCreated,
)
from playbooks_contracts.recommendation import (
    MAX_S3_PATH,
    PLAYBOOK_ID_PATTERN,
    VERSION_PATTERN,
    ArtifactPublish,
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
    s3_path_of,
    seed_search_response,
    seed_version_read,
)
from playbooks_contracts.seeds import SEED_MEDIA_TYPE, claimed_tenant_error, wants_seed_shape
from playbooks_platform.auth import Principal, current_principal, same_tenant
from playbooks_platform.db import after_commit
from playbooks_platform.dependencies import TenantSession
from playbooks_platform.errors import Forbidden, Invalid, NotFound, PayloadTooLarge
from playbooks_platform.permissions import Operator, Permission, Reader, Writer, check
from playbooks_platform.service import RuntimeDep

from . import clones, lifecycle, object_paths, proposals, service, signing
from .library import LIBRARY_TENANT, load_library
from .settings import RecommendationSettings, SettingsDep

router = APIRouter(prefix="/api")

TenantId = Annotated[str, Path(pattern=ORG_ID_PATTERN, description="The caller's own org id")]
PlaybookIdPath = Annotated[str, Path(pattern=PLAYBOOK_ID_PATTERN)]
VersionPath = Annotated[str, Path(pattern=VERSION_PATTERN, description="Semantic version, e.g. 1.2.0")]
ProposalIdPath = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="A proposal's id")]

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
}
_TENANT: dict[int | str, dict[str, Any]] = _AUTH | {
    403: {"description": "The token lacks the permission, or the path names another tenant"}
}
_ONE: dict[int | str, dict[str, Any]] = _TENANT | {404: {"description": "No such playbook version in the tenant"}}


# The outcomes of a review; every other status change is the author's (write).
REVIEW_OUTCOMES = ("approved", "rejected")


def _keyring(settings: RecommendationSettings) -> signing.Keyring:
    return signing.Keyring(current=settings.signing_key_id, keys=settings.signing_keys())


def _body_tenant(principal: Principal, tenant_id: str | None) -> None:
    """A ``tenant_id`` in a body or query (seed 002's clients send it) must be the token's org."""
    error = claimed_tenant_error(principal.org_id, tenant_id)
    if error:
        raise Forbidden(error)


def _negotiated(
    answer: Any,
    accept: str | None,
    seed_shape: Callable[[dict[str, Any]], dict[str, Any]],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """The answer in this API's shape, or in seed 002's when ``Accept`` asks for it; either way ``Vary: Accept``,
    since the body depends on that header."""
    body = json_dict(answer)
    vary = {"Vary": "Accept"}
    if wants_seed_shape(accept):
        return JSONResponse(seed_shape(body), status_code=status_code, media_type=SEED_MEDIA_TYPE, headers=vary)
    return JSONResponse(body, status_code=status_code, headers=vary)


AcceptHeader = Annotated[str | None, Header(include_in_schema=False)]

_SEED_SHAPE = {
    "description": "Ranked results. With `Accept: application/vnd.playbooks.seed+json` the answer takes seed 002's "
    "shape: `parameters` an object keyed by name, `scripts.X.code` without `content`, the library named "
    "`escher_library`, `based_on_escher`/`escher_playbook_id`/`escher_version`, the intent's `use_case`, "
    "`time_based` and `filters`. The default answer carries `use_case`, `time_based` and `code` beside this API's "
    "own names.",
    "content": {SEED_MEDIA_TYPE: {"schema": {"type": "object"}}},
}


_SEED_VERSION = {
    "description": "The version. With `Accept: application/vnd.playbooks.seed+json`, seed 002's shape: the counts "
    "(`execution_count`, `success_count`, `success_rate`) beside the status, the document's parameters keyed by name "
    "and its metadata with `based_on_escher`/`escher_playbook_id`/`escher_version`.",
    "content": {SEED_MEDIA_TYPE: {"schema": {"type": "object"}}},
}


@router.post(
    "/playbook/search",
    response_model=SearchResponse,
    tags=["search"],
    responses=_AUTH | {200: _SEED_SHAPE, 403: {"description": "No 'read' permission, or tenant_id is another org"}},
    summary="Ranked playbooks for a request in words",
)
async def search(
    body: SearchRequest,
    principal: Reader,
    session: TenantSession,
    runtime: RuntimeDep,
    accept: AcceptHeader = None,
) -> Response:
    _body_tenant(principal, body.tenant_id)
    answer = await lifecycle.engine_of(runtime).search(session=session, org_id=principal.org_id, request=body)
    return _negotiated(answer, accept, seed_search_response)


@router.get("/playbook/library", tags=["search"], responses=_AUTH, summary="The global library (metadata only)")
async def library(principal: Reader) -> dict[str, list[dict[str, Any]]]:
    return {"items": [p.raw["metadata"] for p in load_library()]}


@router.post(
    "/playbook/metadata/publish",
    response_model=PlaybookVersionRead,
    tags=["lifecycle"],
    status_code=status.HTTP_201_CREATED,
    responses=_TENANT
    | {
        201: _SEED_VERSION,
        409: {"description": "This version exists already"},
        422: {"description": "Invalid playbook"},
    },
    summary="Publish a tenant playbook version",
    description="Either the whole document in the body, or seed 002's `{tenant_id, playbook_id, version, s3_paths}` "
    "naming scripts uploaded through `/api/playbook/upload/request` (the metadata, parameters and explain plan "
    "come from the uploaded `metadata.json`, `parameters.json`, `explain_plan.json` unless the body gives them); "
    "a version published by path enters review (`pending_review`).",
)
async def publish(
    body: PublishRequest, principal: Writer, session: TenantSession, runtime: RuntimeDep, accept: AcceptHeader = None
) -> Response:
    _body_tenant(principal, body.tenant_id)
    org = principal.org_id
    document = (
        await object_paths.assemble(session=session, org_id=org, body=body)
        if isinstance(body, ArtifactPublish)
        else body
    )
    await lifecycle.publish(
        session,
        runtime,
        org_id=org,
        document=document,
        actor=principal.user_id,
        from_ref="a document published by the org",
    )
    read = await service.get_version(
        session=session, org_id=org, playbook_id=document.metadata.playbook_id, version=document.metadata.version
    )
    return _negotiated(read, accept, seed_version_read, status_code=status.HTTP_201_CREATED)


@router.get(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}",
    response_model=PlaybookVersionRead,
    tags=["lifecycle"],
    responses=_ONE | {200: _SEED_VERSION},
    summary="One version",
)
async def get_version(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    principal: Reader,
    session: TenantSession,
    accept: AcceptHeader = None,
) -> Response:
    same_tenant(principal, tenant_id)
    read = await service.get_version(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)
    return _negotiated(read, accept, seed_version_read)


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
    principal: Reader,
    session: TenantSession,
) -> list[StatusHistoryEntry]:
    same_tenant(principal, tenant_id)
    return await service.history(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)


@router.post(
    "/playbook/metadata/{tenant_id}/{playbook_id}/{version}/status",
    response_model=PlaybookVersionRead,
    tags=["lifecycle"],
    responses=_ONE
    | {200: _SEED_VERSION, 409: {"description": "Transition not allowed; the body lists the allowed targets"}},
    summary="Change the status of a version",
    description="Approving or rejecting is a review: it needs the permission `review`, and the author of a version "
    "cannot approve it (four eyes). Any other change needs `write`. A version goes `active` only once approved.",
)
async def change_status(
    tenant_id: TenantId,
    playbook_id: PlaybookIdPath,
    version: VersionPath,
    body: StatusChange,
    principal: Reader,
    session: TenantSession,
    runtime: RuntimeDep,
    accept: AcceptHeader = None,
) -> Response:
    same_tenant(principal, tenant_id)
    if body.status in REVIEW_OUTCOMES:
        check(principal, Permission.REVIEW, doing=f"mark a publication {body.status}")
    else:
        check(principal, Permission.WRITE, doing=f"move a version to {body.status}")
    await lifecycle.change_status(
        session,
        runtime,
        org_id=tenant_id,
        playbook_id=playbook_id,
        version=version,
        to=body.status,
        reason=body.reason,
        actor=principal.user_id,
    )
    read = await service.get_version(session=session, org_id=tenant_id, playbook_id=playbook_id, version=version)
    return _negotiated(read, accept, seed_version_read)


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
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
) -> Response:
    same_tenant(principal, tenant_id)
    await lifecycle.delete_version(
        session, runtime, org_id=tenant_id, playbook_id=playbook_id, version=version, actor=principal.user_id
    )
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
    principal: Operator,
    session: TenantSession,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> PlaybookStats:
    same_tenant(principal, tenant_id)
    stats, changed = await service.record_execution(
        session=session,
        org_id=tenant_id,
        playbook_id=playbook_id,
        version=version,
        success=body.success,
        run_id=body.run_id,
        duration_ms=body.duration_ms,
        error=body.error,
        broken_after=settings.broken_after_failures,
        parameters=body.parameters,
        failed_step=body.failed_step,
    )
    lifecycle.follow(session, runtime, tenant_id, [*changed, (playbook_id, version)])
    return stats


@router.post(
    "/playbook/upload/request",
    tags=["artifacts"],
    responses=_TENANT,
    summary="Signed upload URLs per file",
    description="Each URL accepts one `PUT` of the file's bytes until `expires_at` (no token needed: the URL is "
    "signed with HMAC-SHA256); the answer names the sha256 checksum to reference in the published document.",
)
async def upload_request(body: UploadRequest, principal: Writer, settings: SettingsDep) -> UploadGrant:
    _body_tenant(principal, body.tenant_id)
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
    settings: SettingsDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
    kid: Annotated[str, Query(max_length=32)],
    nonce: Annotated[str, Query(min_length=16, max_length=64)],
) -> dict[str, Any]:
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
        await object_paths.record_upload(
            session=session,
            org_id=tenant_id,
            playbook_id=playbook_id,
            version=version,
            path=file,
            sha256=digest,
            size=len(content),
        )
    return {
        "file": file,
        "checksum": digest,
        "size_bytes": len(content),
        "s3_path": s3_path_of(tenant_id, playbook_id, version, file),
    }


@router.get(
    "/script/download",
    tags=["artifacts"],
    responses=_ONE,
    summary="Signed download URL of a script",
    description="The URL answers one `GET` with the script's bytes until `expires_at`; verify them against `checksum`. "
    "Name the script by `playbook_id`, `version` and `format`, or by seed 002's `s3_path` (one of the tenant's own "
    "files or the library's, e.g. `s3://bucket/tenants/<org>/playbooks/<id>/v1.2.0/shell/main.sh`; the bucket is "
    "not looked at).",
)
async def script_download(
    principal: Reader,
    session: TenantSession,
    settings: SettingsDep,
    playbook_id: Annotated[str | None, Query(pattern=PLAYBOOK_ID_PATTERN)] = None,
    version: Annotated[str | None, Query(pattern=VERSION_PATTERN)] = None,
    format: FormatName | None = None,
    tenant_id: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    s3_path: Annotated[str | None, Query(max_length=MAX_S3_PATH)] = None,
) -> DownloadGrant:
    _body_tenant(principal, tenant_id)
    org = principal.org_id
    if s3_path is not None:
        key = object_paths.object_key(org, s3_path)
        named: dict[str, tuple[str | None, str | None]] = {
            "playbook_id": (playbook_id, key.playbook_id),
            "version": (version, key.version),
        }
        named["format"] = (format, key.format)
        for name, (given, in_path) in named.items():
            if given is not None and given != in_path:
                raise Invalid(f"{name} is {given!r} but s3_path names {in_path!r}: give s3_path alone, or both alike")
        owner, checksum, size = await object_paths.resolve(session=session, org_id=org, key=key)
    elif playbook_id is None or version is None:
        raise Invalid("name the script by playbook_id and version (and format), or by s3_path")
    else:
        owner, entry = await service.script_of(
            session=session, org_id=org, playbook_id=playbook_id, version=version, fmt=format or "shell"
        )
        checksum, size = entry["checksum"], entry["size_bytes"]
    path = signing.download_path(owner, checksum)
    signed, expires = signing.sign(_keyring(settings), "GET", path, settings.download_url_ttl_s)
    return DownloadGrant(
        url=settings.public_base_url.rstrip("/") + signed, checksum=checksum, size_bytes=size, expires_at=expires
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
    settings: SettingsDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
    kid: Annotated[str, Query(max_length=32)],
) -> Response:
    path = signing.download_path(tenant_id, sha256)
    signing.verify(_keyring(settings), "GET", path, kid=kid, expires=expires, signature=signature)
    if tenant_id == LIBRARY_TENANT:
        content = lifecycle.engine_of(runtime).library_artifacts.get(sha256)
        if content is None:
            raise NotFound(f"no library artifact {sha256}")
    else:
        async with runtime.database.tenant_transaction(tenant_id) as session:
            content = await service.get_artifact(session=session, org_id=tenant_id, sha256=sha256)
    return Response(content, media_type="text/plain; charset=utf-8", headers={"X-Checksum-Sha256": sha256})


# -- org clones of library templates, template updates, learning proposals (issue 21) ----------------------

_PLAYBOOK: dict[int | str, dict[str, Any]] = _AUTH | {
    403: {
        "description": "The permission is missing, the caller is neither the owner nor an org admin, or the id "
        "names a protected library template"
    },
    404: {"description": "No such playbook (or proposal) in the caller's org"},
}


@router.post(
    "/playbook/{playbook_id}/clone",
    tags=["clones"],
    status_code=status.HTTP_201_CREATED,
    responses=_PLAYBOOK | {409: {"description": "A quota is reached (the problem names it) or the id is taken"}},
    summary="Clone a protected library template into the org",
    description="The org's own copy of a library template (lineage: template id and version), owned by the caller "
    "and editable by the org like any of its playbooks (publish a new version). Quotas: `clones_per_org`, "
    "`clones_per_template_per_org`, `clones_per_owner` (settings); past one, a 409 names it.",
)
async def clone_template(
    playbook_id: PlaybookIdPath,
    body: CloneRequest,
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> OrgPlaybookRead:
    org = principal.org_id
    new_id, changed = await clones.clone(
        session=session,
        org_id=org,
        template_id=playbook_id,
        actor=principal.user_id,
        playbook_id=body.playbook_id,
        name=body.name,
        settings=settings,
        model=lifecycle.engine_of(runtime).embedder.name,
    )
    lifecycle.follow(session, runtime, org, changed)
    return await clones.read(session=session, org_id=org, playbook_id=new_id)


@router.get("/clones", tags=["clones"], responses=_AUTH, summary="The org's clones of library templates")
async def list_clones(principal: Reader, session: TenantSession) -> list[CloneSummary]:
    return await clones.list_clones(session=session, org_id=principal.org_id)


@router.get(
    "/playbook/{playbook_id}",
    tags=["clones"],
    responses=_PLAYBOOK,
    summary="An org playbook: current version, versions, lineage, template update",
)
async def get_org_playbook(playbook_id: PlaybookIdPath, principal: Reader, session: TenantSession) -> OrgPlaybookRead:
    return await clones.read(session=session, org_id=principal.org_id, playbook_id=playbook_id)


@router.get(
    "/playbook/{playbook_id}/audit",
    tags=["clones"],
    responses=_PLAYBOOK,
    summary="Who did what to an org playbook, when, from what (append-only)",
)
async def get_audit(playbook_id: PlaybookIdPath, principal: Reader, session: TenantSession) -> list[AuditEntry]:
    return await clones.audit_log(session=session, org_id=principal.org_id, playbook_id=playbook_id)


@router.post(
    "/playbook/{playbook_id}/template-update",
    tags=["clones"],
    responses=_PLAYBOOK | {409: {"description": "Not a clone, or no newer template version waiting"}},
    summary="Take or dismiss the template's newer version (owner or org admin)",
    description="`take` makes a new version: every field the template changed is taken where the org left it as "
    "it was; where the org edited a field the template changed too, the org's edit stays (listed as `kept`). The "
    "clone's id and name stay; its lineage moves to the new template version. `dismiss` hides this template "
    "version until a newer one comes.",
)
async def template_update(
    playbook_id: PlaybookIdPath,
    body: TemplateUpdateDecision,
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
) -> TemplateUpdateResult:
    org = principal.org_id
    result, changed = await clones.decide_template_update(
        session=session,
        org_id=org,
        playbook_id=playbook_id,
        action=body.action,
        principal=principal,
        model=lifecycle.engine_of(runtime).embedder.name,
    )
    lifecycle.follow(session, runtime, org, changed)
    return result


@router.post(
    "/playbook/{playbook_id}/rollback",
    tags=["clones"],
    status_code=status.HTTP_201_CREATED,
    responses=_PLAYBOOK | {409: {"description": "The restored version would not be valid any more"}},
    summary="Restore any version as a new version (owner or org admin)",
)
async def rollback(
    playbook_id: PlaybookIdPath, body: RollbackRequest, principal: Writer, session: TenantSession, runtime: RuntimeDep
) -> VersionCreated:
    org = principal.org_id
    new, state, changed = await clones.rollback(
        session=session,
        org_id=org,
        playbook_id=playbook_id,
        version=body.version,
        principal=principal,
        model=lifecycle.engine_of(runtime).embedder.name,
    )
    lifecycle.follow(session, runtime, org, changed)
    return VersionCreated(playbook_id=playbook_id, version=new, status=state, from_ref=f"version {body.version}")


@router.get(
    "/playbook/{playbook_id}/proposals",
    tags=["proposals"],
    responses=_PLAYBOOK,
    summary="What the agent proposes for an org playbook, with its evidence",
)
async def list_proposals(playbook_id: PlaybookIdPath, principal: Reader, session: TenantSession) -> list[ProposalRead]:
    return await proposals.list_for(session=session, org_id=principal.org_id, playbook_id=playbook_id)


@router.post(
    "/playbook/{playbook_id}/proposals/refresh",
    tags=["proposals"],
    responses=_PLAYBOOK,
    summary="Look at the last 7 and 30 days of outcomes and propose changes",
    description="Deterministic and idempotent: the same outcomes give the same proposals, each made once (a "
    "rejected one is not made again). Nothing changes until the owner approves.",
)
async def refresh_proposals(
    playbook_id: PlaybookIdPath, principal: Writer, session: TenantSession, settings: SettingsDep
) -> list[ProposalRead]:
    return await proposals.refresh(session=session, org_id=principal.org_id, playbook_id=playbook_id, settings=settings)


@router.post(
    "/proposals/{proposal_id}/approve",
    tags=["proposals"],
    responses=_PLAYBOOK | {409: {"description": "Decided already, or stale"}},
    summary="Approve a proposal: applied as a new version (owner or org admin)",
)
async def approve_proposal(
    proposal_id: ProposalIdPath, principal: Writer, session: TenantSession, runtime: RuntimeDep, settings: SettingsDep
) -> ProposalRead:
    org = principal.org_id
    read, changed = await proposals.approve(
        session=session,
        org_id=org,
        proposal_id=proposal_id,
        principal=principal,
        settings=settings,
        model=lifecycle.engine_of(runtime).embedder.name,
    )
    lifecycle.follow(session, runtime, org, changed)
    return read


@router.post(
    "/proposals/{proposal_id}/reject",
    tags=["proposals"],
    responses=_PLAYBOOK | {409: {"description": "Decided already"}},
    summary="Reject a proposal, saying why (owner or org admin)",
)
async def reject_proposal(
    proposal_id: ProposalIdPath, body: ProposalRejection, principal: Writer, session: TenantSession
) -> ProposalRead:
    return await proposals.reject(
        session=session, org_id=principal.org_id, proposal_id=proposal_id, reason=body.reason, principal=principal
    )


# --- goals: from a goal in words to a governed run (recommendation_agent.goals) ------------------------
from playbooks_contracts.goals import GoalAnswers, GoalConfirm, GoalCreate, GoalPage, GoalRead  # noqa: E402
from playbooks_platform.permissions import Runner  # noqa: E402

from . import goals as goal_flow  # noqa: E402

GoalIdPath = Annotated[str, Path(max_length=64, description="The goal's id")]
_GOAL: dict[int | str, dict[str, Any]] = _AUTH | {404: {"description": "No such goal in the caller's org"}}


@router.post(
    "/goals",
    tags=["goals"],
    status_code=status.HTTP_201_CREATED,
    responses=_AUTH | {422: {"description": "Invalid body, or the playbook named cannot run from a goal"}},
    summary="A goal in plain words: the best runnable playbook, its parameters filled, the rest asked",
    description="Ranks playbooks for the words, takes the best one that can run (a reviewed playbook carrying a "
    "runbook), fills its parameters from the words and the intent (each with `source` and `evidence`) and asks the "
    "rest at once (`questions`). A goal complete from its words alone is planned at once: a dry-run is requested "
    "from runbook-runtime and its plan shows up in the goal (`planning` -> `planned`). Leads to a dry-run, hence "
    "`operate`.",
)
async def create_goal(body: GoalCreate, principal: Operator, session: TenantSession, runtime: RuntimeDep) -> GoalRead:
    goal = await goal_flow.create_goal(
        session=session,
        engine=lifecycle.engine_of(runtime),
        org_id=principal.org_id,
        actor=principal.user_id,
        body=body,
    )
    after_commit(session, partial(_wake, runtime))
    return goal


@router.post(
    "/goals/{goal_id}/answers",
    tags=["goals"],
    responses=_GOAL
    | {
        409: {"description": "The goal no longer takes answers (confirmed, ended or unmatched)"},
        422: {"description": "A value breaks its parameter's schema, or names a parameter the runbook lacks"},
    },
    summary="Answer the goal's questions (all at once or some at a time)",
    description="Each value is checked against its parameter (type, allowed values, pattern, bounds); a wrong one "
    "is a 422 naming the parameter and nothing is changed. Once nothing required is open the goal is planned "
    "(a dry-run); answering a planned goal again plans it anew.",
)
async def answer_goal(
    goal_id: GoalIdPath, body: GoalAnswers, principal: Operator, session: TenantSession, runtime: RuntimeDep
) -> GoalRead:
    goal = await goal_flow.answer_goal(
        session=session, org_id=principal.org_id, goal_id=goal_id, body=body, actor=principal.user_id
    )
    after_commit(session, partial(_wake, runtime))
    return goal


@router.post(
    "/goals/{goal_id}/confirm",
    tags=["goals"],
    responses=_GOAL | {409: {"description": "The goal is not planned (or was confirmed already)"}},
    summary="Run the confirmed plan",
    description="Requests the real run (or a replay run with its recording) of the planned runbook version with the "
    "planned values; the caller is its requester, so the org's four-eyes rules keep them from approving it. The "
    "goal follows the run: `confirmed` -> `running` -> `waiting` | `succeeded` | `failed`.",
)
async def confirm_goal(
    goal_id: GoalIdPath, principal: Runner, session: TenantSession, runtime: RuntimeDep, body: GoalConfirm | None = None
) -> GoalRead:
    goal = await goal_flow.confirm_goal(
        session=session,
        org_id=principal.org_id,
        goal_id=goal_id,
        body=body or GoalConfirm(),
        actor=principal.user_id,
    )
    after_commit(session, partial(_wake, runtime))
    return goal


@router.get("/goals/{goal_id}", tags=["goals"], responses=_GOAL, summary="One goal: parameters, questions, plan, run")
async def get_goal(goal_id: GoalIdPath, principal: Reader, session: TenantSession) -> GoalRead:
    return await goal_flow.get_goal(session=session, org_id=principal.org_id, goal_id=goal_id)


@router.get("/goals", tags=["goals"], responses=_AUTH, summary="The org's goals, latest first")
async def list_goals(
    principal: Reader, session: TenantSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> GoalPage:
    return GoalPage(items=await goal_flow.list_goals(session=session, org_id=principal.org_id, limit=limit))


def _wake(runtime: RuntimeDep) -> None:
    """The run request was committed with the goal: relay it now rather than at the next poll."""
    if runtime.relay is not None:
        runtime.relay.wake()
