"""Reliability mechanisms shared by every route: retry policy, circuit breaker, rate limiter.

Pure state machines on `trio.current_time()` (so tests drive them with a mock clock); the
server decides where they apply (see `aiclient_trio.server.api`).
"""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from aiclient_trio.config.types import ServerConfig, UpstreamConfig
from aiclient_trio.errors import GatewayError, RateLimited

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "RateLimiter",
    "Reliability",
    "RetryPolicy",
    "counts_as_failure",
    "is_transient",
]

# Statuses (as the gateway maps them) worth another try: bad gateway, unavailable, timeout,
# overloaded. "unavailable" (provider signed out) is excluded: retrying cannot fix it.
_TRANSIENT_STATUSES = frozenset({502, 503, 504, 529})
# Rate-limit buckets kept per client before idle full ones are dropped.
_MAX_BUCKETS = 1024


def is_transient(error: GatewayError) -> bool:
    """Could the same call succeed if tried again shortly?"""
    if error.should_retry is False or error.kind in ("unavailable", "quota_exceeded"):
        return False
    return error.kind == "rate_limit" or error.status in _TRANSIENT_STATUSES


def counts_as_failure(error: GatewayError) -> bool:
    """Does `error` say the upstream is unhealthy (as opposed to the request being wrong)?"""
    return error.status >= 500 and error.kind != "unavailable"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; only ever used before the first byte was sent."""

    retries: int = 2
    base_delay: float = 0.25
    max_delay: float = 4.0
    # A 429 asking for a longer wait than this is passed to the client instead.
    max_retry_after: float = 10.0

    @classmethod
    def from_config(cls, upstream: UpstreamConfig) -> RetryPolicy:
        return cls(retries=upstream.retries, max_retry_after=upstream.max_retry_after)

    def delay(
        self, attempt: int, error: GatewayError, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None: do not retry."""
        if attempt > self.retries or not is_transient(error):
            return None
        if error.kind == "rate_limit" and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after + rand() * self.base_delay
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + rand() * ceiling / 2  # "equal jitter": never zero, never herds


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    """Per provider: `failures` consecutive upstream failures open it for `cooldown` seconds;
    then one request at a time probes it (success closes it, failure opens it again)."""

    failures: int = 5
    cooldown: float = 30.0
    state: BreakerState = BreakerState.CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def allow(self) -> bool:
        """May a call go out now? In half-open state this claims the single probe slot."""
        if self.state is BreakerState.CLOSED or self.failures <= 0:
            return True
        if self.probing or trio.current_time() < self.opened_at + self.cooldown:
            return False
        self.state, self.probing = BreakerState.HALF_OPEN, True
        return True

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when calls are allowed)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown - trio.current_time())

    def succeeded(self) -> None:
        self.state, self.consecutive, self.probing = BreakerState.CLOSED, 0, False

    def failed(self) -> None:
        self.consecutive += 1
        self.probing = False
        if self.state is BreakerState.HALF_OPEN or (
            self.failures > 0 and self.consecutive >= self.failures
        ):
            self.state, self.opened_at = BreakerState.OPEN, trio.current_time()

    def abandoned(self) -> None:
        """The call ended without a verdict (client left): free the probe slot."""
        if self.state is BreakerState.HALF_OPEN and self.probing:
            self.state, self.probing = BreakerState.OPEN, False


@dataclass(slots=True)
class _Waiter:
    wake: trio.Event = field(default_factory=trio.Event)


class RateLimiter:
    """Token bucket (`rpm` per minute, bursts of `burst`) with a bounded FIFO queue.

    A request takes a token at once, or waits its turn in the queue; when `queue` requests
    already wait it gets `RateLimited` with the seconds after which trying again makes sense.
    """

    def __init__(self, rpm: int, queue: int, burst: int | None = None) -> None:
        self.configure(rpm, queue, burst)
        self.tokens = float(self.burst)
        self.updated = trio.current_time()
        self.waiters: deque[_Waiter] = deque()

    def configure(self, rpm: int, queue: int, burst: int | None = None) -> None:
        self.rpm, self.queue = rpm, max(0, queue)
        self.burst = burst if burst is not None else max(1, rpm // 6)  # ten seconds' worth
        self.interval = 60.0 / rpm

    def _refill(self) -> None:
        now = trio.current_time()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) / self.interval)
        self.updated = now

    @property
    def idle(self) -> bool:
        self._refill()
        return not self.waiters and self.tokens >= self.burst

    def _next_token_at(self) -> float:
        return self.updated + (1.0 - self.tokens) * self.interval

    async def acquire(self) -> None:
        self._refill()
        if not self.waiters and self.tokens >= 1.0:
            self.tokens -= 1.0
            await trio.lowlevel.checkpoint()
            return
        if len(self.waiters) >= self.queue:
            ahead = len(self.waiters) + 1 - self.tokens
            wait = max(self.interval, ahead * self.interval)
            raise RateLimited(
                f"rate limit of {self.rpm} requests per minute exceeded and "
                f"{len(self.waiters)} requests already wait; retry in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )
        me = _Waiter()
        self.waiters.append(me)
        try:
            while True:
                if self.waiters[0] is not me:
                    await me.wake.wait()
                    me.wake = trio.Event()
                    continue
                self._refill()
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await trio.sleep_until(self._next_token_at())
        finally:
            head = self.waiters[0] is me
            self.waiters.remove(me)
            if head and self.waiters:
                self.waiters[0].wake.set()


@dataclass(slots=True)
class Reliability:
    """The daemon-wide state: one breaker per provider and model ("copilot/gpt-4.1": one
    failing model never blocks the provider's others), one rate limiter per client."""

    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)

    def breaker(self, target: str, upstream: UpstreamConfig) -> CircuitBreaker:
        """The breaker of `target` ("provider/model", a model from a provider's catalog, so
        the set stays bounded)."""
        breaker = self.breakers.get(target)
        if breaker is None:
            breaker = self.breakers[target] = CircuitBreaker()
        # Follow config reloads without losing the current state.
        breaker.failures, breaker.cooldown = upstream.circuit_failures, upstream.circuit_cooldown
        return breaker

    def circuits(self, provider: str | None = None) -> dict[str, dict[str, object]]:
        """The breakers that are not closed ("provider/model" -> state and seconds until the
        next probe), of one provider or all: what /readyz, /metrics and the dashboard show."""
        return {
            target: {"state": str(b.state), "retry_in": round(b.retry_in(), 1)}
            for target, b in sorted(self.breakers.items())
            if b.state is not BreakerState.CLOSED
            and (provider is None or target.partition("/")[0] == provider)
        }

    def limiter(self, client: str, server: ServerConfig) -> RateLimiter | None:
        """The client's bucket, or None when rate limiting is off."""
        if server.rate_limit_rpm <= 0:
            return None
        limiter = self.limiters.get(client)
        if limiter is None:
            if len(self.limiters) >= _MAX_BUCKETS:
                for key in [k for k, v in self.limiters.items() if v.idle]:
                    del self.limiters[key]
            limiter = self.limiters[client] = RateLimiter(
                server.rate_limit_rpm, server.rate_limit_queue
            )
        elif limiter.rpm != server.rate_limit_rpm or limiter.queue != server.rate_limit_queue:
            limiter.configure(server.rate_limit_rpm, server.rate_limit_queue)
        return limiter
