"""Shared building blocks for every contract: strict models, id types, JSON values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationInfo, model_validator

# Org (tenant) ids are opaque strings: upstream systems use UUIDs as well as readable keys.
ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]

JsonScalar = str | int | float | bool | None
JsonValue = Any  # any JSON document; pydantic validates it is JSON-serialisable

_INT64 = 2**63

# The deepest nesting of a free-form JSON object (an event's metadata, attributes or metrics),
# counted from the object itself ({} is one level). What the edge accepts, every consumer must
# handle: envelopes and the messages built from an event wrap it in a few more levels, and
# pydantic-core's JSON parser stops at 200 levels, orjson's encoder at 254 (metadata 253 deep was
# accepted, then dead-lettered by condition-engine, so the event never ran).
MAX_JSON_DEPTH = 32


def _json_safe(value: Any, path: str = "") -> Any:
    """Refuse what parses as JSON but cannot travel on: nesting past ``MAX_JSON_DEPTH``, integers
    beyond 64 bits (orjson, Kafka consumers in other languages and jsonb indexes all stop there),
    NaN/Infinity, and strings with lone surrogates (not encodable as UTF-8) or NUL."""
    if not _clean(value, MAX_JSON_DEPTH):
        _explain(value, path, MAX_JSON_DEPTH)
    return value


def _clean(value: Any, room: int) -> bool:
    """Whether ``value`` is safe with ``room`` levels of nesting left, without building a path per
    key: every metadata map of every event goes through here, and the paths were most of the cost
    (1.6 against 0.65 us for a two-key map)."""
    kind = type(value)
    if kind is str:
        return _clean_text(value)
    if kind is dict:
        if room <= 0:
            return False
        room -= 1
        for k, v in value.items():  # noqa: SIM110 (no generator: it resumes a frame per item)
            if not (type(k) is str and _clean_text(k) and _clean(v, room)):
                return False
        return True
    if kind is int:
        return -_INT64 <= value < _INT64
    if kind is float:
        return value - value == 0.0  # False for NaN and both infinities
    if kind is list:
        if room <= 0:
            return False
        room -= 1
        for v in value:  # noqa: SIM110
            if not _clean(v, room):
                return False
        return True
    # Anything else (a subclass, another type) is left to the careful walk to decide.
    return value is None or kind is bool


def _clean_text(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or _encodable(text))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _explain(value: Any, path: str, room: int) -> None:
    """The careful walk: raises naming the first offending path (or passes what is fine)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, dict | list | tuple) and room <= 0:
        where = f" (at {path[:120]}{'...' if len(path) > 120 else ''})" if path else ""
        raise ValueError(f"nested deeper than the limit of {MAX_JSON_DEPTH} levels{where}")
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{path or 'value'}: integer {value} does not fit in 64 bits")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{path or 'value'}: {value} is not a JSON number")
    elif isinstance(value, str):
        _utf8(value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            _utf8(k, path)
            _explain(v, f"{path}.{k}" if path else str(k), room - 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _explain(v, f"{path}[{i}]", room - 1)


def _utf8(text: str, path: str) -> None:
    if not _encodable(text):
        raise ValueError(f"{path or 'value'}: text is not valid UTF-8 (lone surrogate)")
    if "\x00" in text:
        raise ValueError(f"{path or 'value'}: {NUL_MESSAGE}")


# PostgreSQL text and jsonb cannot hold U+0000; refusing it at the edge beats a failure downstream.
NUL_MESSAGE = "text cannot contain the NUL character (\\u0000)"

# The validation context of a model validated from JSON text without the escape ``\u0000``,
# the only way JSON can carry a NUL: no string in it holds one, and the per-model NUL checks
# are skipped (see ``no_nul_escape``).
NUL_FREE: Any = object()


def no_nul_escape(text: bytes) -> bool:
    """Whether JSON ``text`` cannot hold a NUL character (an escaped backslash before ``u0000``
    makes this false too: then the strings are checked one by one, as always)."""
    return b"\\u0000" not in text


# A free-form JSON object (metadata, attributes, metrics) that is safe to store and publish.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_safe)]


def _to_utc(value: datetime) -> datetime:
    """Store every instant in UTC; a naive time is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]


def json_dict(model: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """``model.model_dump(mode="json", exclude=exclude)``, the same dict from pydantic-core's
    serializer without ``model_dump``'s own wrapper, which costs more than the dump itself
    (docs/decisions/0005); hot paths dump every message."""
    return model.__pydantic_serializer__.to_python(model, mode="json", exclude=exclude)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class StrictModel(BaseModel):
    """Input from outside: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # One check per model, not a validator per field: a Python call per field doubled the cost of
    # validating an envelope (22 against 11 us here), and every consumed message is validated.
    @model_validator(mode="after")
    def _no_nul(self, info: ValidationInfo) -> Self:
        if info.context is NUL_FREE:
            return self
        for name, value in self.__dict__.items():
            if isinstance(value, str):
                if "\x00" in value:
                    raise ValueError(f"{name}: {NUL_MESSAGE}")
            elif isinstance(value, list):
                for text in value:
                    if isinstance(text, str) and "\x00" in text:
                        raise ValueError(f"{name}: {NUL_MESSAGE}")
        return self


class WireModel(BaseModel):
    """Output the platform produces; readers tolerate fields added by newer versions."""

    model_config = ConfigDict(extra="ignore")
