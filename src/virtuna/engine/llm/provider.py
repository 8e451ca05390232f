"""One protocol for every chat model, whatever its SDK, plus prices and transport errors.

An adapter (``gemini``, ``openai_compat``) turns a ``CompletionRequest`` into one upstream HTTP
request and returns the raw text with its token usage. It does not retry, parse or validate:
``caller.StructuredCaller`` owns deadlines, the single retry, the repair turn, the breaker and
the ledger, so those rules are written once for all providers.

Errors an adapter raises (all ``LLMError``)::

    LLMUnavailable
    ├── ProviderHTTPError        the provider answered with an HTTP error (status, Retry-After)
    └── ProviderConnectionError  no answer: refused, reset, DNS, TLS
    LLMBadOutput
    └── LLMRefusal               the model declined (safety block, refusal field)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from virtuna.engine.errors import LLMBadOutput, LLMUnavailable

Role = Literal["content", "reasoning", "rules"]
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class ProviderHTTPError(LLMUnavailable):
    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {message}"[:300])

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS


class ProviderConnectionError(LLMUnavailable):
    retryable = True


class LLMRefusal(LLMBadOutput):
    pass


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class VideoAttachment:
    """An uploaded video stored by the service, for providers that can watch it."""

    path: str
    mime_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    system: str
    messages: tuple[Message, ...]
    schema_name: str
    json_schema: dict[str, object]
    # Shown (with the first user turn) only to providers whose ``supports_video`` is True;
    # the caller strips it for the others, which then judge the text alone.
    video: VideoAttachment | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    finish_reason: str | None = None
    usage_reported: bool = True


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per 1M tokens. ``peak_multiplier`` applies inside ``peak_hours_utc`` on weekdays
    (DeepSeek bills double in Beijing business hours; every other provider has none)."""

    input_per_m: float = 0.0
    cached_input_per_m: float = 0.0
    output_per_m: float = 0.0
    peak_multiplier: float = 1.0
    peak_hours_utc: tuple[tuple[int, int], ...] = ()

    def cost_cents(self, usage: Completion, at: datetime) -> float:
        fresh = max(0, usage.input_tokens - usage.cached_input_tokens)
        usd = (
            fresh * self.input_per_m
            + usage.cached_input_tokens * self.cached_input_per_m
            + usage.output_tokens * self.output_per_m
        ) / 1_000_000
        return usd * 100 * (self.peak_multiplier if self._is_peak(at) else 1.0)

    def _is_peak(self, at: datetime) -> bool:
        if at.weekday() >= 5:
            return False
        return any(start <= at.hour < end for start, end in self.peak_hours_utc)


# Beijing (UTC+8) Mon–Fri 09:00–12:00 and 14:00–18:00, per DeepSeek's pricing page.
DEEPSEEK_PEAK_HOURS_UTC: tuple[tuple[int, int], ...] = ((1, 4), (6, 10))


class LLMProvider(Protocol):
    """A configured model endpoint. ``name`` keys the breaker and the ledger."""

    name: str
    model: str
    pricing: Pricing

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form only) or a "37s" duration."""
    if not value:
        return None
    text = value.strip().removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        return None  # an HTTP date: rare from APIs, and treating it as "unknown" is safe
    return max(0.0, seconds)


def estimate_tokens(text: str) -> int:
    """~4 characters per token: used only when a provider omits usage, so costs are not 0."""
    return max(1, len(text) // 4)
