"""Settings of the compiler (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings

from .llm import LlmConfig


class CompilerSettings(PlatformSettings):
    service_name: str = "compiler"
    llm_url: str | None = Field(
        default=None, description="OpenAI-compatible chat endpoint for Stage B; unset: deterministic rules only."
    )
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=30.0, gt=0)
    worker_processes: int = Field(
        default=2, ge=1, le=64, description="Processes that parse, compile and validate (the most jobs at once)."
    )
    worker_deadline_s: float = Field(
        default=20.0, gt=0, description="A job running longer is killed; the request gets 422 naming this limit."
    )
    worker_queue_wait_s: float = Field(
        default=2.0, ge=0, description="How long a request waits for a free worker before 503 with Retry-After."
    )
    worker_memory_mb: int = Field(default=1024, ge=256, description="Address-space limit of each worker process.")

    def llm(self) -> LlmConfig:
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else None
        return LlmConfig(url=self.llm_url, model=self.llm_model, api_key=key, timeout_s=self.llm_timeout_s)


SettingsDep = Annotated[CompilerSettings, settings_of(CompilerSettings)]
