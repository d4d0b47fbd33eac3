"""Shared building blocks for every contract: strict models, id types, JSON values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# Org (tenant) ids are opaque strings: upstream systems use UUIDs as well as readable keys.
ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]

JsonScalar = str | int | float | bool | None
JsonValue = Any  # any JSON document; pydantic validates it is JSON-serialisable


def _to_utc(value: datetime) -> datetime:
    """Store every instant in UTC; a naive time is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class StrictModel(BaseModel):
    """Input from outside: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WireModel(BaseModel):
    """Output the platform produces; readers tolerate fields added by newer versions."""

    model_config = ConfigDict(extra="ignore")
