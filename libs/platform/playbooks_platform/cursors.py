"""Keyset cursors of the list endpoints: the ``created_at`` and key of a page's last row, opaque to
the caller (URL-safe base64). A cursor the API did not write is a 422, never a query."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from .errors import Invalid

_NOT_OURS = "the cursor is not one this API returned; start again without it"


def encode_cursor(created_at: datetime, key: object) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, key as text); ``created_at`` always carries its zone, as every time written here does."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, key = raw.split("|", 1)
        at = datetime.fromisoformat(when)
    except ValueError:  # bad base64, bytes that are not UTF-8, no separator, no time
        raise Invalid(_NOT_OURS) from None
    if at.tzinfo is None:  # compared with a timestamptz, a naive time would fail in the database
        raise Invalid(_NOT_OURS)
    return at, key


def decode_uuid_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """:func:`decode_cursor` for tables keyed by a UUID."""
    at, key = decode_cursor(cursor)
    try:
        return at, uuid.UUID(key)
    except ValueError:
        raise Invalid(_NOT_OURS) from None


__all__ = ["decode_cursor", "decode_uuid_cursor", "encode_cursor"]
