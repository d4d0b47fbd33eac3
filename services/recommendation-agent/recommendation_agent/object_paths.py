"""Scripts named by path, as seed 002's clients name them: uploads recorded by path, ``s3_path`` resolved
to an artifact, and a publish assembled from the uploaded files (``s3_paths``).

Functions are keyword-only, take the session and never commit.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.recommendation import ArtifactPublish, ObjectKey, PlaybookDocument, parse_s3_path
from playbooks_platform.errors import Forbidden, Invalid, NotFound

from .library import LIBRARY_TENANT, library_by_key
from .models import artifacts, playbook_versions, uploaded_files

# The parts of a document seed 002 uploads as files beside the scripts.
DOCUMENT_FILES = {"metadata": "metadata.json", "parameters": "parameters.json", "explain_plan": "explain_plan.json"}
# A publish by path enters review, as in seed 002's own flow ("status: pending_review"): trust comes from a
# reviewer, never from the uploaded metadata.json (whose example says "active").
REVIEW_ENTRY = {"status": "pending_review", "storage_strategy": "uploaded_for_review"}


def object_key(org_id: str, s3_path: str, *, field: str = "s3_path") -> ObjectKey:
    """The file an S3 path names, if the caller may name it: 422 for a malformed or traversing path,
    403 for another tenant's object."""
    try:
        key = parse_s3_path(s3_path)
    except ValueError as exc:
        raise Invalid(f"{field}: {exc}") from None
    if key.tenant is not None and key.tenant != org_id:
        raise Forbidden(
            f"{field} names an object of tenant {key.tenant!r}, and your token is for org {org_id!r}: "
            "a tenant reads its own objects and the library's only"
        )
    return key


async def record_upload(
    *, session: AsyncSession, org_id: str, playbook_id: str, version: str, path: str, sha256: str, size: int
) -> None:
    """Remember which artifact an uploaded path holds (a new upload of the same path replaces it)."""
    await session.execute(
        pg_insert(uploaded_files)
        .values(org_id=org_id, playbook_id=playbook_id, version=version, path=path, sha256=sha256, size_bytes=size)
        .on_conflict_do_update(
            index_elements=[
                uploaded_files.c.org_id,
                uploaded_files.c.playbook_id,
                uploaded_files.c.version,
                uploaded_files.c.path,
            ],
            set_={"sha256": sha256, "size_bytes": size},
        )
    )


async def _uploads(session: AsyncSession, org_id: str, playbook_id: str, version: str) -> dict[str, Any]:
    u = uploaded_files.c
    rows = await session.execute(
        select(u.path, u.sha256, u.size_bytes).where(
            u.org_id == org_id, u.playbook_id == playbook_id, u.version == version
        )
    )
    return {r.path: r for r in rows}


async def resolve(*, session: AsyncSession, org_id: str, key: ObjectKey) -> tuple[str, str, int]:
    """``(tenant of the artifact, sha256, size)`` of the file a checked key names: a script of a published
    version (the tenant's, else the library's), or a file the tenant uploaded."""
    missing = NotFound(f"no file {key.path} of {key.playbook_id}@{key.version}")
    if key.tenant is None:
        lib = library_by_key().get((key.playbook_id, key.version))
        entry = lib.raw["execution_formats"].get(key.format or "") if lib else None
        if not entry or entry.get("entry_point") != key.entry_point:
            raise missing
        return LIBRARY_TENANT, entry["checksum"], entry["size_bytes"]
    v = playbook_versions.c
    row = (
        await session.execute(
            select(v.document).where(v.org_id == org_id, v.playbook_id == key.playbook_id, v.version == key.version)
        )
    ).first()
    if row is not None and key.format:
        entry = row.document["execution_formats"].get(key.format)
        if entry and entry.get("entry_point") == key.entry_point:
            return org_id, entry["checksum"], entry["size_bytes"]
    upload = (await _uploads(session, org_id, key.playbook_id, key.version)).get(key.path)
    if upload is None:
        raise missing
    return org_id, upload.sha256, upload.size_bytes


async def assemble(*, session: AsyncSession, org_id: str, body: ArtifactPublish) -> PlaybookDocument:
    """The document a publish by path describes: the body's parts, else the uploaded JSON files, and the
    scripts ``s3_paths`` names (each one uploaded for this playbook version)."""
    # Every path is checked first: one naming another tenant is a 403 before anything is read.
    keys = {fmt: object_key(org_id, path, field=f"s3_paths.{fmt}") for fmt, path in body.s3_paths.items()}
    uploads = await _uploads(session, org_id, body.playbook_id, body.version)
    where = f"{body.playbook_id}@{body.version}"
    parts: dict[str, Any] = {}
    for part, file in DOCUMENT_FILES.items():
        given = getattr(body, part)
        if given is not None:
            parts[part] = given
        elif file in uploads:
            parts[part] = await _json_file(session, org_id, uploads[file].sha256, file, part)
        elif part != "parameters":
            raise Invalid(
                f"publishing {where} by s3_paths needs its {part}: upload {file} through "
                f"/api/playbook/upload/request first, or give {part} in the body"
            )
    metadata = dict(parts["metadata"])
    for name, value in (("playbook_id", body.playbook_id), ("version", body.version)):
        if name in metadata and metadata[name] != value:
            raise Invalid(f"metadata.{name} is {metadata[name]!r} but the body publishes {value!r}: they must agree")
        metadata[name] = value
    metadata.update(REVIEW_ENTRY)
    formats: dict[str, Any] = {}
    for fmt, key in keys.items():
        path = body.s3_paths[fmt]
        if key.tenant is None or (key.playbook_id, key.version) != (body.playbook_id, body.version):
            raise Invalid(f"s3_paths.{fmt} must name a file uploaded for {where} in your tenant, not {path!r}")
        if key.format != fmt:
            raise Invalid(f"s3_paths.{fmt} must name a file under {fmt}/ (e.g. {fmt}/main.sh), not {key.path!r}")
        upload = uploads.get(key.path)
        if upload is None:
            raise Invalid(f"s3_paths.{fmt}: {key.path} was not uploaded for {where}; upload it first")
        formats[fmt] = {"entry_point": key.entry_point, "checksum": upload.sha256}
    document = {**parts, "metadata": metadata, "execution_formats": formats}
    try:
        return PlaybookDocument.model_validate(document)
    except ValidationError as exc:
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()[:5])
        raise Invalid(f"the uploaded files of {where} do not make a valid playbook: {summary}") from None


async def _json_file(session: AsyncSession, org_id: str, sha256: str, file: str, part: str) -> Any:
    a = artifacts.c
    content: bytes = (
        await session.execute(select(a.content).where(a.org_id == org_id, a.sha256 == sha256))
    ).scalar_one()
    try:
        data = json.loads(bytes(content))
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"the uploaded {file} is not JSON: {exc}") from None
    # The design's files wrap their part ({"parameters": [...]}, {"explain_plan": {...}}); metadata.json does not.
    if isinstance(data, dict) and part != "metadata" and set(data) == {part}:
        return data[part]
    return data
