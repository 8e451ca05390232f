"""DeepSeek and any OpenAI-compatible server (vLLM, Ollama, LM Studio, OpenAI) via the openai SDK.

``max_retries=0``: the caller makes the single retry itself, so every upstream attempt is
seen (and billed in the ledger) exactly once and SDK retries never stack on ours.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx2
import openai
from openai import AsyncOpenAI

from virtuna.engine.llm.provider import (
    Completion,
    CompletionRequest,
    LLMRefusal,
    Pricing,
    ProviderConnectionError,
    ProviderHTTPError,
    estimate_tokens,
    parse_retry_after,
)

JsonMode = Literal["json_schema", "json_object", "none"]


class OpenAICompatProvider:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        pricing: Pricing,
        max_output_tokens: int,
        api_key: str | None = None,
        json_mode: JsonMode = "json_schema",
        extra_body: dict[str, Any] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        temperature: float = 0.2,
    ) -> None:
        self.name = name
        self.model = model
        self.pricing = pricing
        self.max_output_tokens = max_output_tokens
        self.json_mode = json_mode
        self.extra_body = extra_body
        self.temperature = temperature
        self._http = http_client or httpx2.AsyncClient(timeout=httpx2.Timeout(120.0))
        self._client = AsyncOpenAI(
            # Self-hosted servers usually take no key, but the SDK insists on one.
            api_key=api_key or "not-needed",
            base_url=base_url,
            max_retries=0,
            http_client=self._http,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        messages: list[Any] = [{"role": "system", "content": request.system}]
        messages += [{"role": m.role, "content": m.text} for m in request.messages]
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=self.max_output_tokens,
                temperature=self.temperature,
                extra_body=self.extra_body,
                **self._response_format(request),
            )
        except openai.APIStatusError as exc:
            raise ProviderHTTPError(
                exc.status_code, _message(exc), retry_after=_retry_after(exc.response)
            ) from exc
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise ProviderConnectionError(f"{type(exc).__name__}: {exc}") from exc
        return _completion(response, request)

    def _response_format(self, request: CompletionRequest) -> dict[str, Any]:
        if self.json_mode == "json_schema":
            schema = {"name": request.schema_name, "schema": request.json_schema}
            return {"response_format": {"type": "json_schema", "json_schema": schema}}
        if self.json_mode == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}

    async def aclose(self) -> None:
        await self._http.aclose()


def _completion(response: Any, request: CompletionRequest) -> Completion:
    if not response.choices:
        raise ProviderHTTPError(502, "response has no choices")
    choice = response.choices[0]
    refusal = getattr(choice.message, "refusal", None)
    if refusal:
        raise LLMRefusal(f"model refused: {str(refusal)[:200]}")
    if choice.finish_reason == "content_filter":
        raise LLMRefusal("model output blocked by the provider's content filter")
    text = choice.message.content or ""
    usage = response.usage
    if usage is None:
        prompt = request.system + "".join(m.text for m in request.messages)
        return Completion(
            text, estimate_tokens(prompt), 0, estimate_tokens(text), choice.finish_reason, False
        )
    return Completion(
        text=text,
        input_tokens=usage.prompt_tokens or 0,
        cached_input_tokens=_cached_tokens(usage),
        output_tokens=usage.completion_tokens or 0,
        finish_reason=choice.finish_reason,
    )


def _cached_tokens(usage: Any) -> int:
    """DeepSeek reports ``prompt_cache_hit_tokens``; OpenAI ``prompt_tokens_details``."""
    hit = getattr(usage, "prompt_cache_hit_tokens", None)
    if isinstance(hit, int):
        return hit
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return cached if isinstance(cached, int) else 0


def _retry_after(response: httpx2.Response) -> float | None:
    millis = response.headers.get("retry-after-ms")
    if millis:
        seconds = parse_retry_after(millis)
        return seconds / 1000 if seconds is not None else None
    return parse_retry_after(response.headers.get("retry-after"))


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc.message)
