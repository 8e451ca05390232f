"""Gemini through the google-genai SDK (text; JSON constrained by ``response_json_schema``).

The SDK gets our own ``httpx2.AsyncClient`` so tests can point it at a local fake or inject a
``MockTransport``, and so the SDK never falls back to aiohttp, whose transport retries
connection errors by itself. Without ``retry_options`` the SDK makes exactly one attempt.
"""

from __future__ import annotations

from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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

# Finish reasons meaning "the model would not answer": asking again will not help.
REFUSALS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}


class GeminiProvider:
    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        pricing: Pricing,
        max_output_tokens: int,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        temperature: float = 0.2,
    ) -> None:
        self.model = model
        self.pricing = pricing
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        # The caller enforces the real deadline; this is only a backstop for a leaked request.
        self._http = http_client or httpx2.AsyncClient(timeout=httpx2.Timeout(120.0))
        options = types.HttpOptions(base_url=base_url or None, httpx_async_client=self._http)
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def complete(self, request: CompletionRequest) -> Completion:
        contents = [
            types.Content(
                role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.text)]
            )
            for m in request.messages
        ]
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            response_mime_type="application/json",
            response_json_schema=request.json_schema,
            temperature=self.temperature,
            max_output_tokens=self.max_output_tokens,
            thinking_config=thinking_config(self.model),
        )
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            raise ProviderHTTPError(
                exc.code, str(exc.message or exc.status), retry_after=_retry_after(exc)
            ) from exc
        except httpx2.TransportError as exc:
            raise ProviderConnectionError(f"{type(exc).__name__}: {exc}") from exc
        return _completion(response, request)

    async def aclose(self) -> None:
        await self._http.aclose()


def thinking_config(model: str) -> types.ThinkingConfig:
    """Scoring needs no long thinking, which is billed as output: 2.5 models take a token
    budget (0 = off), 3.x models a level."""
    if model.startswith("gemini-2."):
        return types.ThinkingConfig(thinking_budget=0)
    return types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)


def _completion(response: types.GenerateContentResponse, request: CompletionRequest) -> Completion:
    candidate = response.candidates[0] if response.candidates else None
    finish = candidate.finish_reason.name if candidate and candidate.finish_reason else None
    feedback = response.prompt_feedback
    if (finish in REFUSALS) or (candidate is None and feedback and feedback.block_reason):
        reason = finish or str(feedback.block_reason if feedback else "blocked")
        raise LLMRefusal(f"Gemini declined to answer ({reason})")
    text = response.text or ""
    usage = response.usage_metadata
    if usage is None or usage.prompt_token_count is None:
        prompt = request.system + "".join(m.text for m in request.messages)
        return Completion(text, estimate_tokens(prompt), 0, estimate_tokens(text), finish, False)
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return Completion(
        text=text,
        input_tokens=(usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0),
        cached_input_tokens=usage.cached_content_token_count or 0,
        output_tokens=output,
        finish_reason=finish,
    )


def _retry_after(exc: genai_errors.APIError) -> float | None:
    """Retry-After header, else the RetryInfo detail (which the SDK itself ignores)."""
    response: Any = exc.response
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        return parse_retry_after(header)
    details: Any = exc.details
    error = details.get("error", {}) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            return parse_retry_after(str(item.get("retryDelay", "")))
    return None
