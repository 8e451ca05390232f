"""One structured LLM call, made resilient: deadline, one retry, one repair, breaker, fallback.

For each provider in the chain, in order::

    breaker open? ── yes ─▶ record "breaker_open", next provider
    attempt (asyncio.timeout: min(provider timeout, time left in the request))
      ├─ 5xx / 429 / connection error ─▶ one retry after jittered backoff or Retry-After,
      │                                  only if that wait fits the time left; else next provider
      ├─ timeout ─▶ next provider (a hung provider is not retried: it would eat the budget)
      ├─ refusal ─▶ next provider
      ├─ invalid JSON / schema ─▶ one repair turn quoting the validation error, then next provider
      └─ valid ─▶ answer, labelled with the provider that gave it

``asyncio.timeout`` bounds the whole attempt, including a body trickled one keep-alive byte at
a time, which a read timeout alone never stops. SDK retries are off, so every upstream attempt
is one ledger record. Timeouts, HTTP and connection errors count against the provider's
breaker; bad output does not (the provider is up, the answer was poor).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from virtuna.engine.errors import LLMBadOutput, LLMError, LLMUnavailable
from virtuna.engine.llm.breaker import CircuitBreaker, Permit
from virtuna.engine.llm.ledger import (
    CallRecord,
    Outcome,
    llm_deadline,
    record_call,
    remaining_budget,
)
from virtuna.engine.llm.prompts import PromptTemplate
from virtuna.engine.llm.provider import (
    Completion,
    CompletionRequest,
    LLMProvider,
    LLMRefusal,
    Message,
    ProviderConnectionError,
    ProviderHTTPError,
    Role,
    VideoAttachment,
)

T = TypeVar("T", bound=BaseModel)
MIN_ATTEMPT_SECONDS = 0.5  # a retry that would have less than this left is not worth making
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ChainLink:
    provider: LLMProvider
    breaker: CircuitBreaker
    timeout: float  # seconds for one attempt
    # Seconds for one attempt that carries a video (upload, processing, answer); None: timeout.
    video_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    value: T
    provider: str
    model: str
    cost_cents: float  # every attempt of this call, failed ones and other providers included
    prompt_version: str
    saw_video: bool = False  # the answering provider was sent the request's video


class AttemptTimeout(LLMUnavailable):
    pass


class _Invalid(LLMBadOutput):
    def __init__(self, text: str, error: str) -> None:
        self.text = text
        self.error = error
        super().__init__(f"invalid answer: {error}"[:300])


@dataclass(slots=True)
class _Run:
    attempts: int = 0
    spent: float = 0.0


class StructuredCaller:
    def __init__(
        self,
        role: Role,
        chain: Sequence[ChainLink],
        prompt: PromptTemplate,
        *,
        budget_seconds: float = 30.0,
        max_retries: int = 1,
        backoff_seconds: float = 0.5,
        observer: Callable[[CallRecord], None] | None = None,
    ) -> None:
        if not chain:
            raise ValueError(f"no provider configured for the {role} role")
        self.role = role
        self.chain = tuple(chain)
        self.prompt = prompt
        self.budget_seconds = budget_seconds  # used when no request deadline is set
        self.max_retries = max(0, min(1, max_retries))  # L3: at most 2 attempts per provider
        self.backoff_seconds = backoff_seconds
        # Told of every record (the service counts them in its metrics); never fails a call.
        self.observer = observer

    @property
    def label(self) -> str:
        return ",".join(f"{link.provider.name}:{link.provider.model}" for link in self.chain)

    async def call(
        self, values: Mapping[str, str], schema: type[T], *, video: VideoAttachment | None = None
    ) -> Answer[T]:
        if remaining_budget() is None:
            with llm_deadline(self.budget_seconds):
                return await self._call(values, schema, video)
        return await self._call(values, schema, video)

    async def _call(
        self, values: Mapping[str, str], schema: type[T], video: VideoAttachment | None
    ) -> Answer[T]:
        request = replace(self._request(values, schema), video=video)
        run = _Run()
        errors: list[tuple[str, LLMError]] = []
        for link in self.chain:
            remaining = remaining_budget()
            if remaining is not None and remaining <= 0:
                errors.append(("deadline", LLMUnavailable("no time left in the LLM budget")))
                break
            sent = request if _watches_video(link) else replace(request, video=None)
            try:
                value = await self._provider(link, sent, schema, run)
            except LLMError as exc:
                errors.append((link.provider.name, exc))
                continue
            provider = link.provider
            return Answer(
                value,
                provider.name,
                provider.model,
                run.spent,
                self.prompt.version,
                saw_video=sent.video is not None,
            )
        summary = "; ".join(f"{name}: {e}" for name, e in errors)
        if all(isinstance(e, LLMBadOutput) for _, e in errors):
            raise LLMBadOutput(f"{self.role}: no valid answer ({summary})")
        raise LLMUnavailable(f"{self.role}: every provider failed ({summary})")

    def _request(self, values: Mapping[str, str], schema: type[T]) -> CompletionRequest:
        json_schema = inline_schema(schema)
        hint = (
            "\n\nReply with one JSON object only, no prose and no code fences, matching this "
            f"JSON Schema ({schema.__name__}):\n{json.dumps(json_schema, separators=(',', ':'))}"
        )
        return CompletionRequest(
            system=self.prompt.system + hint,
            messages=(Message("user", self.prompt.render(values)),),
            schema_name=schema.__name__,
            json_schema=json_schema,
        )

    async def _provider(
        self, link: ChainLink, request: CompletionRequest, schema: type[T], run: _Run
    ) -> T:
        permit = await link.breaker.acquire()
        if permit is None:
            self._record(run, link, "breaker_open", datetime.now(UTC), perf_counter(), None)
            raise LLMUnavailable(f"circuit open for {link.provider.name}")
        try:
            value = await self._attempts(link, request, schema, run)
        except LLMBadOutput:
            await link.breaker.success(permit)
            raise
        except (LLMUnavailable, asyncio.CancelledError):
            await _report_failure(link.breaker, permit)
            raise
        await link.breaker.success(permit)
        return value

    async def _attempts(
        self, link: ChainLink, request: CompletionRequest, schema: type[T], run: _Run
    ) -> T:
        retries, repaired = self.max_retries, False
        while True:
            try:
                return await self._attempt(link, request, schema, run)
            except (ProviderHTTPError, ProviderConnectionError) as exc:
                delay = self._retry_delay(exc, retries)
                if delay is None:
                    raise
                retries -= 1
                await asyncio.sleep(delay)
            except _Invalid as bad:
                if repaired:
                    raise
                repaired = True
                request = replace(request, messages=(*request.messages, *_repair_turn(bad)))

    def _retry_delay(
        self, exc: ProviderHTTPError | ProviderConnectionError, left: int
    ) -> float | None:
        if left <= 0 or not exc.retryable:
            return None
        if isinstance(exc, ProviderHTTPError) and exc.retry_after is not None:
            delay = exc.retry_after
        else:
            delay = self.backoff_seconds * (0.5 + random.random())  # jittered
        remaining = remaining_budget()
        if remaining is not None and delay + MIN_ATTEMPT_SECONDS > remaining:
            return None  # L5: a Retry-After beyond the budget means "fall back now"
        return delay

    async def _attempt(
        self, link: ChainLink, request: CompletionRequest, schema: type[T], run: _Run
    ) -> T:
        timeout = link.timeout
        if request.video is not None and link.video_timeout is not None:
            timeout = link.video_timeout
        remaining = remaining_budget()
        if remaining is not None:
            timeout = min(timeout, remaining)
        if timeout <= 0:
            raise AttemptTimeout("no time left in the request's LLM budget")
        started_at, start = datetime.now(UTC), perf_counter()
        try:
            async with asyncio.timeout(timeout):
                completion = await link.provider.complete(request)
        except TimeoutError:
            self._record(run, link, "timeout", started_at, start, None, "Timeout")
            raise AttemptTimeout(f"no answer within {timeout:.1f}s") from None
        except asyncio.CancelledError:
            self._record(run, link, "timeout", started_at, start, None, "Cancelled")
            raise
        except ProviderHTTPError as exc:
            self._record(run, link, "http_error", started_at, start, None, exc, exc.status)
            raise
        except ProviderConnectionError as exc:
            self._record(run, link, "connection_error", started_at, start, None, exc)
            raise
        except LLMRefusal as exc:
            self._record(run, link, "bad_output", started_at, start, None, exc)
            raise
        except Exception as exc:  # an SDK failing to parse a garbled response, for example
            self._record(run, link, "http_error", started_at, start, None, exc)
            raise LLMUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        try:
            value = parse_answer(completion, schema)
        except _Invalid as bad:
            self._record(run, link, "bad_output", started_at, start, completion, bad)
            raise
        self._record(run, link, "ok", started_at, start, completion)
        return value

    def _record(
        self,
        run: _Run,
        link: ChainLink,
        outcome: Outcome,
        started_at: datetime,
        start: float,
        completion: Completion | None,
        error: BaseException | str | None = None,
        status: int | None = None,
    ) -> None:
        provider = link.provider
        cost = provider.pricing.cost_cents(completion, started_at) if completion else 0.0
        run.spent += cost
        run.attempts += 1
        record = CallRecord(
            provider=provider.name,
            model=provider.model,
            role=self.role,
            attempt=run.attempts,
            prompt_version=self.prompt.version,
            outcome=outcome,
            input_tokens=completion.input_tokens if completion else 0,
            output_tokens=completion.output_tokens if completion else 0,
            cached_input_tokens=completion.cached_input_tokens if completion else 0,
            cost_cents=cost,
            latency_ms=round((perf_counter() - start) * 1000, 3),
            started_at=started_at,
            error_class=_error_name(error),
            http_status=status,
        )
        record_call(record)
        _observe(self.observer, record)


def _watches_video(link: ChainLink) -> bool:
    return bool(getattr(link.provider, "supports_video", False))


def _observe(observer: Callable[[CallRecord], None] | None, record: CallRecord) -> None:
    if observer is None:
        return
    try:
        observer(record)
    except Exception:  # metrics must never turn into a failed analysis
        return


def _error_name(error: BaseException | str | None) -> str | None:
    return error if isinstance(error, str) or error is None else type(error).__name__


async def _report_failure(breaker: CircuitBreaker, permit: Permit) -> None:
    try:
        await breaker.failure(permit)
    except Exception:  # breaker bookkeeping must never mask the real error
        return


def _repair_turn(bad: _Invalid) -> tuple[Message, Message]:
    return (
        Message("assistant", bad.text[:4000] or "(empty)"),
        Message(
            "user",
            f"That answer is not valid: {bad.error[:1000]}. Reply again with only the corrected "
            "JSON object matching the schema.",
        ),
    )


def parse_answer(completion: Completion, schema: type[T]) -> T:
    text = _FENCE.sub("", completion.text).strip()
    if not text:
        raise _Invalid(completion.text, "the answer was empty")
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        truncated = completion.finish_reason in {"MAX_TOKENS", "length"}
        note = (
            " (the answer was cut off at the output token limit; be concise)" if truncated else ""
        )
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()
        )
        raise _Invalid(completion.text, errors[:1000] + note) from None


def inline_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with ``$ref``s resolved: not every provider follows refs.

    Generated once per model (pydantic takes ~10 ms per generation, three per analysis);
    each caller gets its own copy."""
    copy: dict[str, Any] = json.loads(_inline_schema_json(schema))
    return copy


@functools.cache
def _inline_schema_json(schema: type[BaseModel]) -> str:
    raw = schema.model_json_schema()
    defs = raw.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return json.dumps(resolve(raw))
