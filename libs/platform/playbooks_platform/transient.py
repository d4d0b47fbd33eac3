"""Which failures are worth waiting out (infrastructure away) and which are not (bad data)."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError
from sqlalchemy import exc as sa_exc


class TransientError(Exception):
    """Raise this for a failure that should be retried until it clears."""


_TRANSIENT = (
    TransientError,
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when the same call may well succeed later without any change to the input."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return is_transient(exc.orig) if exc.orig is not None else False
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, _TRANSIENT):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, _TRANSIENT)


def refused_value(exc: BaseException) -> bool:
    """Whether the database refused a value (SQLSTATE class 22), not failed to work."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    orig = exc.orig
    state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if state.startswith("22"):
        return True
    cause = getattr(orig, "__cause__", None)
    return type(orig).__name__ == "DataError" or type(cause).__name__ == "DataError"
