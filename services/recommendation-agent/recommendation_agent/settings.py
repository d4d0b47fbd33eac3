"""Settings of recommendation-agent (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings

DEV_SIGNING_SECRET = "dev-only-artifact-signing-secret"
KEY_ID_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"


class RecommendationSettings(PlatformSettings):
    service_name: str = "recommendation-agent"
    qdrant_url: str | None = Field(
        default=None, description="A Qdrant server (qdrant-client); unset: Qdrant Edge in-process on index_path."
    )
    qdrant_api_key: SecretStr | None = None
    index_path: Path | None = Field(
        default=None, description="Folder of the Edge index; default <data_dir>/qdrant-edge."
    )
    embedding_cache_path: Path | None = Field(
        default=None, description="Folder of cached document embeddings; default <data_dir>/embeddings."
    )
    embeddings_url: str | None = Field(
        default=None, description="An OpenAI-compatible /v1/embeddings base URL; unset: local all-MiniLM-L6-v2."
    )
    embeddings_model: str = "all-MiniLM-L6-v2"
    embeddings_api_key: SecretStr | None = None
    llm_url: str | None = Field(
        default=None,
        description="OpenAI-compatible chat endpoint for the intent and the ranking (seed 002 STEPs 1 and 3); "
        "unset: the rules for both.",
    )
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=2.0, gt=0, description="Bound on each LLM call (intent, ranking).")
    llm_rank: bool = Field(default=True, description="With llm_url: the LLM orders the first candidates too.")
    llm_rank_candidates: int = Field(default=8, ge=2, le=20, description="How many candidates the LLM ranks.")
    embed_timeout_s: float = Field(
        default=0.5, gt=0, description="Bound on the query embedding; past it search ranks by keywords and intent."
    )
    query_cache_entries: int = Field(
        default=4096,
        ge=0,
        le=1_000_000,
        description="Query vectors kept in memory (each about 2 KB); 0: every search embeds its query.",
    )
    query_cache_per_tenant: int = Field(
        default=256, ge=0, description="Of those, at most this many for one tenant (its own least recent go first)."
    )
    fallback_tenant_limit: int = Field(
        default=500, ge=1, le=10_000, description="Newest tenant versions ranked when semantic search is unavailable."
    )
    signing_secret: SecretStr = Field(
        default=SecretStr(DEV_SIGNING_SECRET), description="The current key that signs artifact URLs (32+ bytes)."
    )
    signing_key_id: str = Field(
        default="k1", pattern=KEY_ID_PATTERN, description="The current key's id, carried in every URL it signs."
    )
    signing_previous_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Older keys by id (JSON object), still accepted on URLs they signed until removed: rotate by "
        "moving the current key here under its id and setting a new current key and id.",
    )
    public_base_url: str = Field(default="http://127.0.0.1:8004", description="Base of the signed artifact URLs.")
    upload_url_ttl_s: int = Field(default=900, ge=10, le=86_400)
    download_url_ttl_s: int = Field(default=3600, ge=10, le=86_400)
    max_artifact_bytes: int = Field(default=512 * 1024, ge=1024)
    candidates_per_collection: int = Field(default=30, ge=5, le=200)
    broken_after_failures: int = Field(default=3, ge=1)
    index_library_on_start: bool = True
    # -- clones of library templates and learning proposals (issue 21) --
    clones_per_org: int = Field(default=20, ge=0, description="Clones of library templates one org may hold.")
    clones_per_template_per_org: int = Field(default=5, ge=0, description="Clones of one template per org.")
    clones_per_owner: int = Field(default=10, ge=0, description="Clones one person may own in an org.")
    learning_min_runs: int = Field(default=5, ge=1, description="Fewest runs in a window before a proposal is made.")
    learning_override_share: float = Field(
        default=0.6, gt=0.5, le=1, description="Share of runs giving one same value before it is proposed as default."
    )
    learning_transient_failures: int = Field(
        default=3, ge=1, description="Transient failures of one step over 30 days before a retry is proposed."
    )
    learning_success_drop: float = Field(
        default=0.2, gt=0, le=1, description="Drop of the 7-day success rate below the 30-day one for needs_update."
    )

    def secrets_to_check(self) -> Iterator[tuple[str, SecretStr, str | None]]:
        yield from super().secrets_to_check()
        yield "PLAYBOOKS_SIGNING_SECRET", self.signing_secret, DEV_SIGNING_SECRET
        for kid, secret in self.signing_previous_keys.items():
            yield f"PLAYBOOKS_SIGNING_PREVIOUS_KEYS[{kid}]", secret, DEV_SIGNING_SECRET

    @model_validator(mode="after")
    def _check_key_ids(self) -> RecommendationSettings:
        bad = [k for k in self.signing_previous_keys if not re.fullmatch(KEY_ID_PATTERN, k)]
        if bad:
            raise ValueError(f"PLAYBOOKS_SIGNING_PREVIOUS_KEYS: key ids must match {KEY_ID_PATTERN}, not {bad}")
        if self.signing_key_id in self.signing_previous_keys:
            raise ValueError(
                f"PLAYBOOKS_SIGNING_KEY_ID {self.signing_key_id!r} is also in PLAYBOOKS_SIGNING_PREVIOUS_KEYS: "
                "give the new key a new id"
            )
        return self

    def signing_keys(self) -> dict[str, str]:
        """Every key that verifies, by id (the current one included)."""
        keys = {kid: secret.get_secret_value() for kid, secret in self.signing_previous_keys.items()}
        return keys | {self.signing_key_id: self.signing_secret.get_secret_value()}

    @property
    def edge_path(self) -> Path:
        return self.index_path or self.data_dir / "qdrant-edge"

    @property
    def embeddings_cache(self) -> Path:
        return self.embedding_cache_path or self.data_dir / "embeddings"


SettingsDep = Annotated[RecommendationSettings, settings_of(RecommendationSettings)]
