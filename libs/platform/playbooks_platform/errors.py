"""Typed domain errors, mapped once to RFC 9457 problem+json by the app factory."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An error a caller can act on. ``detail`` is written for a person."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers  # e.g. Retry-After on a 503
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid transition"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class Invalid(DomainError):
    """Input that is well-formed JSON but breaks a domain rule."""

    status = 422
    title = "Unprocessable content"


class TooManyRequests(DomainError):
    """A bounded resource (streams, say) is at its limit for this caller; ``Retry-After`` says when to retry."""

    status = 429
    title = "Too many requests"


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"


class PoisonMessage(Exception):
    """A message that can never be handled, whatever the retries: dead-letter it at once."""
