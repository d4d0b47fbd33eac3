"""Typed settings, read from ``PLAYBOOKS_*`` environment variables when a process starts.

Nothing here is read at import time: a service builds its settings in its app factory. Every
default points at the embedded dev stack, so no variable is needed to run it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me"
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


class PlatformSettings(BaseSettings):
    """Settings every service shares; each service extends this class with its own."""

    model_config = SettingsConfigDict(env_prefix="PLAYBOOKS_", extra="ignore", env_file=None)

    env: Literal["dev", "test", "prod"] = "dev"
    service_name: str = "playbooks"
    role: Literal["all", "api", "worker"] = Field(
        default="all", description="api: HTTP only; worker: consumers only; all: both (dev default)."
    )
    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_POSTGRES_PORT}/playbooks"
    db_pool_size: int = Field(default=10, ge=1)
    kafka_bootstrap: str = EMBEDDED_KAFKA_BOOTSTRAP
    kafka_client_id: str | None = None
    consumer_max_batch: int = Field(default=500, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1, description="Tries before a failing message is dead-lettered.")
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    consumer_fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="Longest a fetch waits for new records: lower is less latency on a quiet topic, "
        "at more fetch requests (the default 500 ms of aiokafka doubled publish-to-run latency here).",
    )
    consumer_session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="A silent consumer leaves its group after this long."
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
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"])
    log_level: str = "INFO"
    log_json: bool = True
    trace_console: bool = Field(default=False, description="Print spans to stdout (when no OTLP endpoint is set).")
    data_dir: Path = Path(".data")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> PlatformSettings:
        if self.env == "prod" and not self.jwt_jwks_url and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("PLAYBOOKS_JWT_SECRET (or PLAYBOOKS_JWT_JWKS_URL) must be set when PLAYBOOKS_ENV=prod")
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
    def runs_api(self) -> bool:
        return self.role in ("all", "api")

    @property
    def runs_worker(self) -> bool:
        return self.role in ("all", "worker")
