"""One JSON answer from an OpenAI-compatible chat-completions endpoint, bounded in time and size.

Shared by every service that asks an LLM (the compiler's Stage B, recommendation-agent's intent and ranking):
whatever goes wrong (no answer, late, HTTP error, not a completion, not JSON, too big) raises
:class:`LlmFailed` with a short reason, and the caller falls back to its deterministic path. The whole
exchange runs under one deadline (a server that trickles bytes is late too) and the body is read in chunks
up to a cap, so a hostile endpoint can neither hold a request forever nor fill the memory.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_MAX_ANSWER_BYTES = 2 * 1024 * 1024
_FENCED = re.compile(r"```(?:json)?\s*([\[{].*[\]}])\s*```", re.S)


class LlmFailed(Exception):
    """The LLM gave no usable answer; the reason is safe to log and to show."""


@dataclass(frozen=True)
class LlmEndpoint:
    url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout_s: float = 30.0
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def endpoint(self) -> str:
        """The chat-completions URL: given whole, or a base with or without ``/v1``."""
        url = (self.url or "").rstrip("/")
        if url.endswith("/chat/completions"):
            return url
        return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


def json_value(content: str) -> Any:
    """The JSON in a completion's text (bare, or in a fenced block), or :class:`LlmFailed`."""
    text = content.strip()
    fenced = _FENCED.search(text)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LlmFailed(f"the answer is not JSON ({str(exc)[:120]})") from None


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise LlmFailed(f"the answer is larger than {cap} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > cap:
            raise LlmFailed(f"the answer is larger than {cap} bytes")
    return bytes(body)


async def chat_json(
    endpoint: LlmEndpoint, system: str, user: str, *, json_mode: bool = True, temperature: float = 0
) -> Any:
    """The JSON value the model answers to ``system`` + ``user``, or :class:`LlmFailed`."""
    body: dict[str, Any] = {
        "model": endpoint.model,
        "temperature": temperature,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    try:
        async with (
            asyncio.timeout(endpoint.timeout_s),
            httpx.AsyncClient(timeout=endpoint.timeout_s) as client,
            client.stream("POST", endpoint.endpoint, json=body, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise LlmFailed(f"the endpoint answered HTTP {response.status_code}")
            raw = await _read_capped(response, endpoint.max_answer_bytes)
    except TimeoutError:
        raise LlmFailed(f"the endpoint did not answer within {endpoint.timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise LlmFailed(f"the endpoint did not answer ({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmFailed("the answer is not an OpenAI-style chat completion") from None
    if not isinstance(content, str):
        raise LlmFailed("the completion has no text content")
    return json_value(content)
