"""A small in-process sliding-window limiter (per key), used for failed-auth throttling.

In-process by design for now: with several workers each one counts separately, so the real
limit is ``limit × workers``; a shared Redis window replaces it when REDIS_URL is set (ops issue).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def _prune(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if not hits:
            self._hits.pop(key, None)
            hits = self._hits.setdefault(key, deque())
        return hits

    def blocked(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None if it is under the limit."""
        hits = self._prune(key)
        if len(hits) < self.limit:
            return None
        return max(0.0, hits[0] + self.window - self._clock())

    def hit(self, key: str) -> None:
        self._prune(key).append(self._clock())
        if len(self._hits) > 100_000:  # bound memory under an address-spraying attack
            self._hits.pop(next(iter(self._hits)))
