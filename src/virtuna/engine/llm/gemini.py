"""Gemini through the google-genai SDK (text and video; JSON via ``response_json_schema``).

A request carrying a video sends it with the first user turn: inline bytes when the file is
at most ``inline_video_max_bytes``, else through the Files API (resumable upload, then
``files.get`` polled until the file is ACTIVE; FAILED is a ``VideoRejected``, so the chain
moves on). The caller's attempt timeout bounds the upload and the polling as well.

The SDK gets our own ``httpx2.AsyncClient`` so tests can point it at a local fake or inject a
``MockTransport``, and so the SDK never falls back to aiohttp, whose transport retries
connection errors by itself. Without ``retry_options`` the SDK makes exactly one attempt.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
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
    VideoAttachment,
    estimate_tokens,
    parse_retry_after,
)

# Finish reasons meaning "the model would not answer": asking again will not help.
REFUSALS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
INLINE_VIDEO_MAX_BYTES = 20 * 1024 * 1024
FILE_CACHE_SIZE = 64  # uploaded files remembered, so a retry or repair turn does not re-upload


# Gemini's name for QuickTime (its supported list: mp4, mpeg, mov, avi, x-flv, mpg, webm, …).
_GEMINI_MIME = {"video/quicktime": "video/mov"}


def _mime(video: VideoAttachment) -> str:
    return _GEMINI_MIME.get(video.mime_type, video.mime_type)


class VideoRejected(LLMRefusal):
    """Gemini could not process the uploaded video (file state FAILED)."""


class GeminiProvider:
    name = "gemini"
    supports_video = True

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
        inline_video_max_bytes: int = INLINE_VIDEO_MAX_BYTES,
        file_poll_seconds: float = 1.0,
    ) -> None:
        self.model = model
        self.inline_video_max_bytes = inline_video_max_bytes
        self.file_poll_seconds = file_poll_seconds
        self._files: OrderedDict[str, str] = OrderedDict()  # local path -> "files/…" name
        self.pricing = pricing
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        # The caller enforces the real deadline; this is only a backstop for a leaked request.
        self._http = http_client or httpx2.AsyncClient(timeout=httpx2.Timeout(120.0))
        options = types.HttpOptions(base_url=base_url or None, httpx_async_client=self._http)
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            return await self._complete(request)
        except genai_errors.APIError as exc:
            raise ProviderHTTPError(
                exc.code, str(exc.message or exc.status), retry_after=_retry_after(exc)
            ) from exc
        except httpx2.TransportError as exc:
            raise ProviderConnectionError(f"{type(exc).__name__}: {exc}") from exc

    async def _complete(self, request: CompletionRequest) -> Completion:
        contents = [
            types.Content(
                role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.text)]
            )
            for m in request.messages
        ]
        video = request.video
        if video is not None and contents:
            parts = contents[0].parts or []
            contents[0].parts = [await self._video_part(video), *parts]
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            response_mime_type="application/json",
            response_json_schema=request.json_schema,
            temperature=self.temperature,
            max_output_tokens=self.max_output_tokens,
            thinking_config=thinking_config(self.model),
        )
        response = await self._client.aio.models.generate_content(
            model=self.model, contents=contents, config=config
        )
        if video is not None:
            await self._forget(video)  # answered: Google need not keep the upload for 48 h
        return _completion(response, request)

    async def _video_part(self, video: VideoAttachment) -> types.Part:
        if video.size_bytes <= self.inline_video_max_bytes:
            data = await asyncio.to_thread(Path(video.path).read_bytes)
            return types.Part.from_bytes(data=data, mime_type=_mime(video))
        file = await self._active_file(video)
        return types.Part.from_uri(
            file_uri=file.uri or "", mime_type=file.mime_type or _mime(video)
        )

    async def _active_file(self, video: VideoAttachment) -> types.File:
        """Upload once (Files API), then poll until ACTIVE; FAILED raises ``VideoRejected``."""
        files = self._client.aio.files
        name = self._files.get(video.path)
        file = await self._cached_file(name) if name is not None else None
        if file is None:
            config = types.UploadFileConfig(mime_type=_mime(video))
            file = await files.upload(file=video.path, config=config)
            name = file.name or ""
            self._files[video.path] = name
            while len(self._files) > FILE_CACHE_SIZE:
                self._files.popitem(last=False)
        while file.state != types.FileState.ACTIVE:
            if file.state == types.FileState.FAILED:
                self._files.pop(video.path, None)
                detail = file.error.message if file.error and file.error.message else "FAILED"
                raise VideoRejected(f"Gemini could not process the video ({detail})")
            await asyncio.sleep(self.file_poll_seconds)
            file = await files.get(name=name or "")
        return file

    async def _cached_file(self, name: str) -> types.File | None:
        """The file uploaded by an earlier attempt (a retry), or None if it is gone."""
        try:
            return await self._client.aio.files.get(name=name)
        except genai_errors.ClientError as exc:
            if exc.code == 404:
                return None
            raise

    async def _forget(self, video: VideoAttachment) -> None:
        """Best effort: delete the uploaded copy (a later repair turn uploads it again)."""
        name = self._files.pop(video.path, None)
        if name is None:
            return
        try:
            await self._client.aio.files.delete(name=name)
        except (genai_errors.APIError, httpx2.TransportError):
            return  # Google expires it after 48 h anyway

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
