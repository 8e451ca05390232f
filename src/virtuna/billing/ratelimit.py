"""Scoring requests per API key per minute, by plan.

Shared through Redis (a fixed one-minute window per key) when ``REDIS_URL`` is set, so the
limit holds across processes; otherwise, or while Redis is unreachable, each process keeps
its own sliding window (warned once), which bounds the total at ``limit × processes``.
"""

from __future__ import annotations

import time

import structlog
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from virtuna.config import Settings
from virtuna.kit.ratelimit import SlidingWindowLimiter

log = structlog.get_logger("virtuna.billing.ratelimit")
WINDOW_SECONDS = 60.0


class PlanRateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local: dict[str, SlidingWindowLimiter] = {}
        self._redis = (
            aioredis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if settings.redis_url
            else None
        )
        self._warned = False

    def limit_for(self, plan: str) -> int | None:
        limits = self.settings.plan_rate_limits
        limit = limits.get(plan, limits.get("free", 10))
        return None if limit < 0 else limit

    async def hit(self, key: str, plan: str) -> float | None:
        """Count one request; seconds to wait when over the limit, else None."""
        limit = self.limit_for(plan)
        if limit is None:
            return None
        if self._redis is not None:
            try:
                return await self._redis_hit(key, limit)
            except RedisError:
                if not self._warned:
                    log.warning("ratelimit.redis_unavailable", fallback="per-process")
                    self._warned = True
        window = self._local.setdefault(plan, SlidingWindowLimiter(limit, WINDOW_SECONDS))
        wait = window.blocked(key)
        if wait is None:
            window.hit(key)
        return wait

    async def _redis_hit(self, key: str, limit: int) -> float | None:
        assert self._redis is not None
        now = time.time()
        bucket = int(now // WINDOW_SECONDS)
        name = f"virtuna:ratelimit:{key}:{bucket}"
        count = int(await self._redis.incr(name))
        if count == 1:
            await self._redis.expire(name, int(WINDOW_SECONDS) + 1)
        if count > limit:
            return (bucket + 1) * WINDOW_SECONDS - now
        return None

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
