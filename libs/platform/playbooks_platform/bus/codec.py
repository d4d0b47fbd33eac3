"""JSON on the wire: pydantic models in, bytes out, and back, validated against the registry."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from playbooks_contracts import Envelope, Topic
from playbooks_contracts.base import NUL_FREE, json_dict, no_nul_escape

from ..errors import PoisonMessage

# An envelope's JSON straight from its fields: pydantic's model_dump(mode="json") gives the same
# bytes (a test holds the two together) at a multiple of the cost, for every message published
# (figures: docs/decisions/0005).
_ENVELOPE_FIELDS = tuple(Envelope.model_fields)


def encode(message: BaseModel | dict[str, Any] | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    if type(message) is Envelope:
        fields = message.__dict__
        return orjson.dumps({k: fields[k] for k in _ENVELOPE_FIELDS}, option=orjson.OPT_UTC_Z)
    if isinstance(message, BaseModel):
        return orjson.dumps(json_dict(message))
    return orjson.dumps(message)


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "(body)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def decode(topic: Topic, value: bytes | None) -> BaseModel:
    """The message as its registered model; anything else is a poison message, with the reason."""
    if value is None:
        raise PoisonMessage("empty message (tombstone) on a topic that carries events")
    if topic.raw_model is not None:
        # Raw messages (every upstream event) are validated straight from their bytes by
        # pydantic-core, with no dict in between (cheaper: docs/decisions/0006). Anything it
        # refuses takes the careful path below, whose reasons the dead-letter headers carry.
        try:
            # (pydantic-core's validator itself: model_validate_json's wrapper adds a call per message)
            return topic.raw_model.__pydantic_validator__.validate_json(  # type: ignore[no-any-return]
                value, context=NUL_FREE if no_nul_escape(value) else None
            )
        except ValidationError:
            pass
    return _decode_carefully(topic, value)


def _decode_carefully(topic: Topic, value: bytes) -> BaseModel:
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PoisonMessage(f"expected a JSON object, got {type(raw).__name__}")
    try:
        if topic.raw_model is not None:
            return topic.raw_model.model_validate(raw)
        envelope = Envelope.model_validate(raw)
        model = topic.data_models.get(envelope.type)
        if model is None:
            raise PoisonMessage(f"unknown message type {envelope.type!r} on {topic.name}")
        envelope.data = json_dict(model.model_validate(envelope.data))
        return envelope
    except ValidationError as exc:
        raise PoisonMessage(f"invalid message: {_describe(exc)}") from None
