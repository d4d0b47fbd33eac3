"""Settings of the compiler (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pydantic import Field, SecretStr

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

    def llm(self) -> LlmConfig:
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else None
        return LlmConfig(url=self.llm_url, model=self.llm_model, api_key=key, timeout_s=self.llm_timeout_s)
