"""Every upstream LLM attempt as a plain record, gathered per analysis through a contextvar.

The engine cannot write to the database, so the caller (the service) opens
``collect_calls()`` around ``Engine.analyze``; the stage tasks inherit the context, append
their records to the same list, and the service stores them with the analysis. A breaker
short-circuit is recorded too (outcome ``breaker_open``, no upstream attempt, zero cost).

The request deadline rides in a second contextvar so a provider chain knows how much time is
left for a retry after a 429 (``remaining_budget``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Outcome = Literal["ok", "timeout", "http_error", "connection_error", "bad_output", "breaker_open"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    provider: str
    model: str
    role: str
    attempt: int  # 1-based sequence within one role call, across providers (and skips)
    prompt_version: str
    outcome: Outcome
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_cents: float
    latency_ms: float
    started_at: datetime
    error_class: str | None = None
    http_status: int | None = None


_calls: ContextVar[list[CallRecord] | None] = ContextVar("virtuna_llm_calls", default=None)
_deadline: ContextVar[float | None] = ContextVar("virtuna_llm_deadline", default=None)


@contextmanager
def collect_calls() -> Iterator[list[CallRecord]]:
    """Gather the records of every LLM attempt made inside the block (and its tasks)."""
    calls: list[CallRecord] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def record_call(record: CallRecord) -> None:
    calls = _calls.get()
    if calls is not None:
        calls.append(record)


@contextmanager
def llm_deadline(seconds: float | None) -> Iterator[float | None]:
    """Set the absolute loop-time deadline for LLM work in this context (None: no deadline)."""
    when = None if seconds is None else asyncio.get_running_loop().time() + seconds
    token = _deadline.set(when)
    try:
        yield when
    finally:
        _deadline.reset(token)


def remaining_budget() -> float | None:
    when = _deadline.get()
    return None if when is None else when - asyncio.get_running_loop().time()
