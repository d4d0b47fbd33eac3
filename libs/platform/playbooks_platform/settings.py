"""Typed settings, read from ``PLAYBOOKS_*`` environment variables when a process starts.

Nothing here is read at import time: a service builds its settings in its app factory. Every
default points at the embedded dev stack, so no variable is needed to run it. A secret setting
can instead be read from a file, ``PLAYBOOKS_<NAME>_FILE`` (a mounted Kubernetes or compose
secret), so it never sits in the process environment where a child could read it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me"
MIN_SECRET_BYTES = 32
EMBEDDED_POSTGRES_PORT = 55432
EMBEDDED_KAFKA_BOOTSTRAP = "127.0.0.1:9092"

# Fixed ports of the dev stack, one per service (also the container ports).
SERVICE_PORTS: dict[str, int] = {
    "console": 8000,
    "trigger-ingest": 8001,
    "condition-engine": 8002,
    "exception-playbook": 8003,
    "recommendation-agent": 8004,
    "runbook-runtime": 8005,
    "compiler": 8006,
}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on loopback only (``0.0.0.0``, ``::`` and names other than localhost do not)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_secret(field: FieldInfo) -> bool:
    types = (field.annotation, *get_args(field.annotation))
    return any(t is SecretStr or SecretStr in get_args(t) for t in types)


class SecretFilesSource(PydanticBaseSettingsSource):
    """``PLAYBOOKS_<NAME>_FILE=<path>``: a secret setting's value is that file's content (trailing newline dropped)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for name in self.settings_cls.secret_setting_names():  # type: ignore[attr-defined]
            var = f"{prefix}{name}".upper()
            path = os.environ.get(f"{var}_FILE")
            if not path:
                continue
            if var in os.environ:
                raise ValueError(f"set {var} or {var}_FILE, not both")
            try:
                text = Path(path).read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{var}_FILE={path}: cannot read it ({exc.strerror})") from None
            field = self.settings_cls.model_fields[name]
            values[name] = json.loads(text) if self.field_is_complex(field) else text
        return values


class BusSettings(BaseSettings):
    """The broker address alone: what `playbooks topics` needs, so the topic job holds and checks no secret."""

    model_config = SettingsConfigDict(env_prefix="PLAYBOOKS_", extra="ignore", env_file=None)

    kafka_bootstrap: str = EMBEDDED_KAFKA_BOOTSTRAP


class PlatformSettings(BaseSettings):
    """Settings every service shares; each service extends this class with its own."""

    # hide_input_in_errors: a refused setting must not print the secrets read with it.
    model_config = SettingsConfigDict(env_prefix="PLAYBOOKS_", extra="ignore", env_file=None, hide_input_in_errors=True)
    # Secret settings besides the SecretStr ones (which are found by type): each also reads PLAYBOOKS_<NAME>_FILE.
    secret_settings: ClassVar[frozenset[str]] = frozenset({"database_url"})

    env: Literal["dev", "test", "prod"] = "dev"
    service_name: str = "playbooks"
    role: Literal["all", "api", "worker"] = Field(
        default="all", description="api: HTTP only; worker: consumers only; all: both (dev default)."
    )
    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_POSTGRES_PORT}/playbooks"
    db_pool_size: int = Field(default=10, ge=1)
    kafka_bootstrap: str = EMBEDDED_KAFKA_BOOTSTRAP
    consumer_max_batch: int = Field(default=500, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1, description="Tries before a failing message is dead-lettered.")
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    consumer_fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="Longest a fetch waits for new records: lower is less latency on a quiet topic, "
        "at more fetch requests (aiokafka's default of 500 ms: docs/decisions/0005).",
    )
    consumer_max_partition_fetch_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="Most bytes one fetch brings of a partition (aiokafka's default): a batch holds at most "
        "what one fetch brought, so a service with large batches of small records raises it.",
    )
    consumer_session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="A silent consumer leaves its group after this long."
    )
    consumer_lag_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="How often each consumer asks the broker for its partitions' ends to report lag, "
        "also while a batch is stuck (0: only after each batch).",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=100,
        description="Allocations between collections of the cyclic GC's youngest generation (Python's own is 700).",
    )
    consumer_group_prefix: str = Field(
        default="", description="Prepended to every consumer group: environments sharing one Kafka cluster stay apart."
    )
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "playbooks"
    jwt_audience: str = "playbooks"
    jwt_leeway_s: float = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew tolerated on a token's exp, nbf and iat, in seconds: the identity provider's "
        "clock and this host's never agree exactly.",
    )
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"])
    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None,
        description="true: JSON log lines; false: readable lines; unset: JSON unless stderr is a terminal.",
    )
    trace_console: bool = Field(default=False, description="Print spans to stdout (when no OTLP endpoint is set).")
    data_dir: Path = Path(".data")
    listen_host: str = Field(
        default="127.0.0.1",
        description="Interface the HTTP server binds (`playbooks serve --host` sets it); the public dev secrets "
        "are accepted only when it is a loopback address.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings, file_secret_settings

    @classmethod
    def secret_setting_names(cls) -> list[str]:
        """Settings that hold a secret: each can come from ``PLAYBOOKS_<NAME>_FILE``."""
        return [n for n, f in cls.model_fields.items() if n in cls.secret_settings or _is_secret(f)]

    def secrets_to_check(self) -> Iterator[tuple[str, SecretStr, str | None]]:
        """(variable, value, public dev placeholder or None) of every signing secret in use."""
        if not self.jwt_jwks_url:
            yield "PLAYBOOKS_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET

    @model_validator(mode="after")
    def _check_secrets(self) -> PlatformSettings:
        for var, secret, placeholder in self.secrets_to_check():
            value = secret.get_secret_value()
            if len(value.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"{var} has {len(value.encode())} bytes; a secret needs at least {MIN_SECRET_BYTES} "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
            if value != placeholder:
                continue
            if self.env == "prod":
                raise ValueError(f"{var} must be set when PLAYBOOKS_ENV=prod (it is the public dev placeholder)")
            if not is_loopback(self.listen_host):
                raise ValueError(
                    f"{var} is the public dev placeholder, accepted only when every listener is on loopback; "
                    f"this process listens on {self.listen_host}: set {var} (or {var}_FILE) to a random secret"
                )
        return self

    @property
    def async_database_url(self) -> str:
        """The database URL with the asyncpg driver, whatever form it was given in."""
        url = self.database_url
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @property
    def runs_worker(self) -> bool:
        return self.role in ("all", "worker")
