"""Per-provider circuit breaker, shared across processes through Redis when it is configured.

    closed ──N consecutive failures──▶ open ──cool-down passes──▶ half-open
      ▲                                  ▲                            │ exactly one probe
      └──────────── probe succeeds ──────┴──── probe fails ───────────┘ (others fail fast)

Redis holds three keys per provider: ``failures`` (INCR, reset by a success), ``open`` (exists
for the cool-down, ``PX``) and ``probe`` (``SET NX PX``: the one caller that wins it probes).
The acquire check and the probe claim run as one Lua script, so they are atomic.
A probe that never reports back frees the token when its ``PX`` expires. When Redis is absent
or unreachable, the in-process state machine with the same rules takes over (a warning is
logged once per outage) — a closed Redis port must never turn into failed analyses.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("virtuna.engine.llm")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    probe_ttl_seconds: float = 60.0  # longer than one call, so a probe cannot expire mid-call


@dataclass(frozen=True, slots=True)
class Permit:
    probe: bool
    token: str = ""


class BreakerStore(Protocol):
    async def acquire(self, name: str, policy: BreakerPolicy) -> Permit | None: ...

    async def success(self, name: str, permit: Permit) -> None: ...

    async def failure(self, name: str, permit: Permit, policy: BreakerPolicy) -> bool | None:
        """Count a failure; True when the breaker is open afterwards."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _LocalState:
    failures: int = 0
    open_until: float = 0.0
    probe_until: float = 0.0


@dataclass
class LocalBreakerStore:
    """Per-process state; also the fallback of ``RedisBreakerStore``."""

    clock: Any = time.monotonic
    _states: dict[str, _LocalState] = field(default_factory=dict)

    async def acquire(self, name: str, policy: BreakerPolicy) -> Permit | None:
        state = self._states.setdefault(name, _LocalState())
        now = self.clock()
        if now < state.open_until:
            return None
        if state.failures < policy.failure_threshold:
            return Permit(probe=False)
        if now < state.probe_until:
            return None  # another caller is probing
        state.probe_until = now + policy.probe_ttl_seconds
        return Permit(probe=True)

    async def success(self, name: str, permit: Permit) -> None:
        self._states[name] = _LocalState()

    async def failure(self, name: str, permit: Permit, policy: BreakerPolicy) -> bool:
        state = self._states.setdefault(name, _LocalState())
        state.failures += 1
        if permit.probe or state.failures >= policy.failure_threshold:
            state.open_until = self.clock() + policy.cooldown_seconds
            state.probe_until = 0.0
            return True
        return False

    async def aclose(self) -> None:
        return None


# 0: refused (open, or another caller holds the probe), 1: closed, call freely, 2: the probe.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[1]) then return 1 end
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then return 2 end
return 0
"""


class RedisBreakerStore:
    """Shared state in Redis with the local store as the fallback when Redis fails."""

    def __init__(
        self, url: str, *, prefix: str = "virtuna:llm:breaker", retry_after: float = 5.0
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.local = LocalBreakerStore()
        self._retry_after = retry_after  # seconds to skip Redis after it failed
        self._down_until = 0.0
        self._client: Any = None
        self._loop: Any = None

    def _redis(self) -> Any:
        import asyncio

        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A client is bound to the loop it first ran on (the CLI runs one loop per call).
            self._client = aioredis.from_url(
                self.url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
            self._loop = loop
        return self._client

    async def _shared(self, operation: Any) -> tuple[bool, Any]:
        """Run ``operation(client)``; (False, None) means "use the local store instead"."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            return False, None
        try:
            return True, await operation(self._redis())
        except (RedisError, OSError) as exc:
            if self._down_until == 0.0:
                log.warning(
                    "llm.breaker.redis_unavailable",
                    extra={"error": f"{type(exc).__name__}: {exc}", "fallback": "in-process"},
                )
            self._down_until = time.monotonic() + self._retry_after
            return False, None

    def _keys(self, name: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{name}"
        return f"{base}:failures", f"{base}:open", f"{base}:probe"

    async def acquire(self, name: str, policy: BreakerPolicy) -> Permit | None:
        failures_key, open_key, probe_key = self._keys(name)
        token = uuid.uuid4().hex

        async def op(client: Any) -> Permit | None:
            # One script, so the check and the probe claim are atomic: a caller that read
            # "not open" just before a failed probe re-opened the breaker must not win the
            # token the probe released (measured: two probes 0.15 s apart without it).
            ttl = int(policy.probe_ttl_seconds * 1000)
            verdict = await client.eval(
                _ACQUIRE, 3, open_key, failures_key, probe_key,
                policy.failure_threshold, token, ttl,
            )  # fmt: skip
            if int(verdict) == 0:
                return None
            return Permit(probe=True, token=token) if int(verdict) == 2 else Permit(probe=False)

        ok, permit = await self._shared(op)
        if not ok:
            return await self.local.acquire(name, policy)
        self._down_until = 0.0
        result: Permit | None = permit
        return result

    async def success(self, name: str, permit: Permit) -> None:
        failures_key, _, probe_key = self._keys(name)

        async def op(client: Any) -> None:
            await client.delete(failures_key, *([probe_key] if permit.probe else []))

        ok, _ = await self._shared(op)
        if not ok:
            await self.local.success(name, permit)

    async def failure(self, name: str, permit: Permit, policy: BreakerPolicy) -> bool:
        failures_key, open_key, probe_key = self._keys(name)
        cooldown = int(policy.cooldown_seconds * 1000)

        async def op(client: Any) -> bool:
            async with client.pipeline(transaction=True) as pipe:
                pipe.incr(failures_key)
                # Forget stale failures eventually, so a breaker never stays half-open forever.
                pipe.pexpire(failures_key, max(cooldown * 20, 3_600_000))
                count, _ = await pipe.execute()
            if permit.probe or int(count) >= policy.failure_threshold:
                await client.set(open_key, "1", px=cooldown)
                if permit.probe:
                    await client.delete(probe_key)
                return True
            return False

        ok, opened = await self._shared(op)
        if not ok:
            return await self.local.failure(name, permit, policy)
        return bool(opened)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


StateObserver = Callable[[str, bool], None]  # (provider, is_open), e.g. a metrics gauge


class CircuitBreaker:
    """One provider's breaker: a name, a policy and the store holding its state.

    ``on_state`` (optional) hears this process's view of the state after each transition it
    sees: open when a call is refused or a failure opens it, closed after a success.
    """

    def __init__(
        self,
        name: str,
        store: BreakerStore,
        policy: BreakerPolicy,
        *,
        on_state: StateObserver | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.policy = policy
        self.on_state = on_state

    async def acquire(self) -> Permit | None:
        """A permit to call the provider, or None: fail fast, move to the next provider."""
        permit = await self.store.acquire(self.name, self.policy)
        if permit is None:
            self._tell(True)
        return permit

    async def success(self, permit: Permit) -> None:
        await self.store.success(self.name, permit)
        self._tell(False)

    async def failure(self, permit: Permit) -> None:
        if await self.store.failure(self.name, permit, self.policy):
            self._tell(True)

    def _tell(self, is_open: bool) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(self.name, is_open)
        except Exception:  # an observer must never break a call
            log.debug("llm.breaker.observer_failed", exc_info=True)
