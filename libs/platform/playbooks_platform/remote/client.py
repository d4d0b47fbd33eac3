"""One service's HTTP API for the CLI: the token sent, refusals turned into one line naming the service."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from . import config

# Exit codes of the remote commands (README "Remote CLI"): the run's outcome first, as `runbook` reports it.
PASSED, FAILED, USAGE, WAITING, UNREACHABLE = 0, 1, 2, 3, 4


class RemoteError(Exception):
    """An expected failure: printed as one line, never a traceback; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def problem_message(response: httpx.Response) -> str:
    """The API's own words: problem+json ``title: detail``, else FastAPI's ``detail``, else the status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI's own validation shape
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail[:5])
        title = body.get("title")
        if detail and title:
            return f"{title}: {detail}"
        if detail or title:
            return str(detail or title)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return f"{response.reason_phrase or 'error'}{': ' + text if text else ''}"


class Api:
    """Calls to one service with the CLI's token."""

    def __init__(self, service: str, *, token: str | None = None, timeout: float = 30) -> None:
        self.service = service
        self.url = config.service_url(service)
        self.token = token if token is not None else config.load_token()
        self.timeout = timeout

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if not self.token:
            raise RemoteError(
                f"no token for {self.service}: set {config.TOKEN_VAR} or run `playbooks login --token <token>` "
                "(`playbooks token --org <org>` prints one for the dev stack)"
            )
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"} | (extra or {})

    def unreachable(self, exc: Exception) -> RemoteError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = f"set {config.url_var(self.service)} or {config.BASE_VAR}"
        return RemoteError(f"{self.service} is unreachable at {self.url} ({reason}); {hint}", UNREACHABLE)

    def refused(self, response: httpx.Response) -> RemoteError:
        code = UNREACHABLE if response.status_code >= 500 else USAGE
        return RemoteError(f"{self.service}: {response.status_code} {problem_message(response)}", code)

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        """The JSON answer; any refusal or transport failure as a ``RemoteError``."""
        try:
            response = httpx.request(method, self.url + path, headers=self.headers(headers), timeout=self.timeout, **kw)
        except httpx.TransportError as exc:  # refused, reset, DNS, timeout
            raise self.unreachable(exc) from None
        if response.status_code >= 400:
            raise self.refused(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RemoteError(f"{self.service}: the answer to {method} {path} is not JSON", UNREACHABLE) from None

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.call("POST", path, **kw)

    @contextlib.contextmanager
    def stream(self, path: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
        """A streamed GET (server-sent events); a refusal is read and raised before anything is yielded."""
        # The server sends a comment at least every 15 s: a read waiting 60 s means the connection is dead.
        timeout = httpx.Timeout(self.timeout, read=60)
        with (
            httpx.Client(timeout=timeout) as http,
            http.stream("GET", self.url + path, headers=self.headers(headers | {"Accept": "text/event-stream"})) as r,
        ):
            if r.status_code >= 400:
                r.read()
                raise self.refused(r)
            yield r
