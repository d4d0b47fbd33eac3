"""The runbook runner: a process that executes approved steps and holds no platform secret.

``python -m runbook_runtime.runner --host 0.0.0.0 --port 8010`` serves ``POST /v1/exec``: one argv
whose program runbook-runtime's policy already resolved, run in the sandbox (another user, its own
process group, limits, no inherited descriptors, bubblewrap where it works), answered with the
bounded transcript. It has no database, broker, JWT or signing secret, and not even the bearer token
runbook-runtime sends (``PLAYBOOKS_RUNNER_TOKEN_FILE`` on runbook-runtime): it holds only that token's
SHA-256 (``PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE``), so a step that reads whatever the runner can read
finds nothing to call the runner with. runbook-runtime uses it when ``PLAYBOOKS_RUNNER_URL`` is set
(:class:`RunnerClient`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .executor import Transcript
from .sandbox import Limits, Sandbox
from .settings import SandboxSettings

log = logging.getLogger("runbook_runtime.runner")

MAX_BODY_BYTES = 8 * 1024 * 1024
# Names only; a value never reaches a shell. The loader and interpreter hooks are refused even
# though the service never sends them: the runner trusts its caller's policy, not its caller's bytes.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
REFUSED_ENV = re.compile(r"LD_.*|BASH_ENV|ENV|BASH_FUNC_.*|PYTHON.*|PERL5?OPT|PERL5LIB|NODE_OPTIONS|RUBYOPT|GCONV_PATH")
HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class RunnerUnavailable(OSError):
    """The runner could not be reached or refused the call; the step fails as one that could not start."""


class ExecRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    argv: list[str] = Field(min_length=1, max_length=4096)
    executable: str = Field(min_length=2, max_length=4096)
    stdin: str | None = None
    timeout: float = Field(gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, Annotated[int, Field(ge=0)]] | None = None


def read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    token = path.read_text().strip()
    if len(token) < 16:
        raise ValueError(f"the runner token in {path} is shorter than 16 characters")
    return token


def token_sha256(token: str) -> bytes:
    """The digest the runner keeps in place of the token: SHA-256 of the token as runbook-runtime sends it."""
    return hashlib.sha256(token.encode()).digest()


def read_token_sha256(path: Path) -> bytes:
    """The 32-byte digest from a file of 64 hex digits (``sha256sum``'s first field); anything else is refused."""
    text = path.read_text().strip()
    if not HEX_SHA256.fullmatch(text):
        raise ValueError(
            f"{path} must hold the runner token's SHA-256 as 64 hex digits (the first field of sha256sum), "
            f"not {len(text)} characters of something else"
        )
    return bytes.fromhex(text)


def runner_token_digest(settings: SandboxSettings) -> bytes | None:
    """What the runner checks callers against: the digest file, or the hash of a token file (tests, dev)."""
    if settings.runner_token_sha256_file is not None and settings.runner_token_file is not None:
        raise ValueError("set PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE or PLAYBOOKS_RUNNER_TOKEN_FILE on a runner, not both")
    if settings.runner_token_sha256_file is not None:
        return read_token_sha256(settings.runner_token_sha256_file)
    token = read_token(settings.runner_token_file)
    return token_sha256(token) if token else None


def _problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "runner", "status": status, "detail": detail, **extra},
        status_code=status,
        media_type="application/problem+json",
    )


def _check_request(req: ExecRequest, settings: SandboxSettings) -> str | None:
    if not os.path.isabs(req.executable) or not os.path.isfile(req.executable):
        return f"executable {req.executable!r} is not an absolute path to a file on the runner"
    if req.timeout > settings.runner_max_timeout_s:
        return f"timeout {req.timeout:g}s is over the runner's limit of {settings.runner_max_timeout_s:g}s"
    for name in req.env:
        if not ENV_NAME.fullmatch(name) or REFUSED_ENV.fullmatch(name):
            return f"environment variable {name!r} is not accepted by the runner"
    if req.limits and set(req.limits) - {f.name for f in dataclasses.fields(Limits)}:
        return f"unknown limits {sorted(req.limits)!r}"
    return None


def _authorized(header: str, expected: bytes) -> bool:
    scheme, _, token = header.partition(" ")
    # the digests are compared, not the tokens: the runner never holds the token itself
    return hmac.compare_digest(token_sha256(token), expected) and scheme == "Bearer" and bool(token)


def create_runner_app(settings: SandboxSettings, token_digest: bytes | None) -> FastAPI:
    """The runner's HTTP app: ``POST /v1/exec`` and ``GET /healthz``; no platform app factory, no secret.

    ``token_digest`` is the SHA-256 of the bearer token callers must present (None: a dev runner on loopback).
    """
    if token_digest is not None and len(token_digest) != 32:
        raise ValueError("the runner token digest must be 32 bytes of SHA-256")
    sandbox = Sandbox.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            sandbox.kill_all()

    app = FastAPI(title="runbook-runner", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sandbox = sandbox

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "isolation": sandbox.layers.describe()}

    @app.post("/v1/exec")
    async def execute(request: Request) -> JSONResponse:
        if token_digest is not None and not _authorized(request.headers.get("authorization", ""), token_digest):
            return _problem(401, "a valid runner token is required (Authorization: Bearer ...)")
        size = request.headers.get("content-length")
        if size is None or not size.isdigit() or int(size) > MAX_BODY_BYTES:
            return _problem(413, f"the request needs a Content-Length of at most {MAX_BODY_BYTES} bytes")
        try:
            req = ExecRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            return _problem(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
        refused = _check_request(req, settings)
        if refused:
            return _problem(422, refused)
        cancel = threading.Event()
        job = asyncio.ensure_future(
            asyncio.to_thread(
                sandbox.run,
                req.argv,
                executable=req.executable,
                stdin=req.stdin,
                timeout=req.timeout,
                env=req.env,
                limits=req.limits,
                cancel=cancel,
            )
        )
        try:
            # a caller that hangs up cancels its step: the step's process group is killed
            while not job.done():
                await asyncio.wait({job}, timeout=0.5)
                if not job.done() and await request.is_disconnected():
                    cancel.set()
            transcript = job.result()
        except OSError as exc:
            return _problem(422, f"could not start {req.argv[0]!r}: {exc}", exec_error=True)
        finally:
            cancel.set()
        return JSONResponse(dataclasses.asdict(transcript))

    return app


class RunnerClient:
    """runbook-runtime's side: sends a resolved argv to the runner; the same call shape as ``Sandbox.run``."""

    def __init__(self, url: str, token_file: Path | None) -> None:
        token = read_token(token_file)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, headers=headers)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        executable: str,
        stdin: str | None,
        timeout: float,
        env: Mapping[str, str],
        limits: Mapping[str, Any] | None = None,
        cwd: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        body = {"argv": list(argv), "executable": executable, "stdin": stdin, "timeout": timeout, "env": dict(env)}
        if limits:
            body["limits"] = dict(limits)
        try:
            # the runner ends the step at its timeout; the margin covers start-up and the answer
            r = self._client.post("/v1/exec", json=body, timeout=httpx.Timeout(timeout + 30, connect=5))
        except httpx.HTTPError as exc:
            raise RunnerUnavailable(f"the runbook runner at {self.url} cannot be reached: {exc}") from None
        if r.status_code == 200:
            known = {f.name for f in dataclasses.fields(Transcript)}
            return Transcript(**{k: v for k, v in r.json().items() if k in known})
        detail = r.json().get("detail", r.text) if "json" in r.headers.get("content-type", "") else r.text[:300]
        if r.status_code == 422 and r.json().get("exec_error"):
            raise OSError(detail)
        raise RunnerUnavailable(f"the runbook runner refused the step ({r.status_code}): {detail}")

    def close(self) -> None:
        self._client.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(args: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runbook_runtime.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    opts = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from playbooks_platform.hardening import set_not_dumpable

    set_not_dumpable()
    settings = SandboxSettings()
    try:
        digest = runner_token_digest(settings)
    except (OSError, ValueError) as exc:
        sys.exit(f"runbook runner: {exc}")
    if digest is None:
        dev = os.environ.get("PLAYBOOKS_ENV", "dev") == "dev"
        if not (dev and _loopback(opts.host)):
            sys.exit(
                "PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE must name the file with the runner token's SHA-256 "
                "(or PLAYBOOKS_RUNNER_TOKEN_FILE the token itself; only a dev runner on loopback may go without)"
            )
        log.warning("no runner token: any local process may run steps through this dev runner")
    import uvicorn

    app = create_runner_app(settings, digest)
    layers = app.state.sandbox.layers
    log.info("runbook runner: %s", layers.describe())
    if settings.runner_token_file is not None and layers.user is None and layers.bwrap is None:
        # the runner trusts its caller's policy: a step that could read the token could run anything here;
        # with only the digest mounted there is nothing for a step to find
        log.warning(
            "steps run as the runner's own user without namespaces: they can read %s; run the runner as root "
            "(with SETUID and SETGID) or where bubblewrap works, or give it PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE instead",
            settings.runner_token_file,
        )
    uvicorn.run(app, host=opts.host, port=opts.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
