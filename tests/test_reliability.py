"""Retry policy, circuit breaker and rate limiter as pure state machines on a mock clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from aiclient_trio.config.types import ServerConfig, UpstreamConfig
from aiclient_trio.errors import (
    InvalidRequest,
    Overloaded,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from aiclient_trio.reliability import (
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    Reliability,
    RetryPolicy,
    counts_as_failure,
    is_transient,
)


def test_transient_errors_are_the_retryable_ones() -> None:
    for error in (
        UpstreamError("bad gateway"),
        Overloaded("busy"),
        UpstreamTimeout("connect timeout"),
        UpstreamError("503", status=503),
        RateLimited("slow"),
    ):
        assert is_transient(error), error
    for error in (
        InvalidRequest("bad"),
        QuotaExceeded("gone"),
        ProviderUnavailable("signed out"),
        UpstreamError("internal", status=500),
        Overloaded("busy", should_retry=False),
    ):
        assert not is_transient(error), error
    assert counts_as_failure(UpstreamError("x", status=500))
    assert not counts_as_failure(ProviderUnavailable("signed out"))
    assert not counts_as_failure(RateLimited("slow"))


def test_backoff_is_exponential_with_jitter_and_bounded() -> None:
    policy = RetryPolicy(retries=5, base_delay=1.0, max_delay=4.0)
    error = UpstreamError("reset")
    low = [policy.delay(n, error, rand=lambda: 0.0) for n in range(1, 6)]
    high = [policy.delay(n, error, rand=lambda: 1.0) for n in range(1, 6)]
    assert low == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert high == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(6, error) is None  # retries used up
    assert policy.delay(1, InvalidRequest("no")) is None


def test_rate_limit_retry_after_short_is_waited_long_is_passed_on() -> None:
    policy = RetryPolicy(retries=2, base_delay=0.25, max_retry_after=10.0)
    assert policy.delay(1, RateLimited("x", retry_after=2.0), rand=lambda: 0.0) == 2.0
    assert policy.delay(1, RateLimited("x", retry_after=30.0)) is None
    no_hint = policy.delay(1, RateLimited("x"), rand=lambda: 0.0)
    assert no_hint == 0.125
    assert RetryPolicy.from_config(UpstreamConfig(retries=7)).retries == 7


async def test_circuit_breaker_opens_then_probes_one_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker(failures=3, cooldown=30.0)
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    breaker.succeeded()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_in() == pytest.approx(30.0)
    autojump_clock.jump(29.0)
    assert not breaker.allow()
    autojump_clock.jump(1.0)
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.failed()  # probe failed: open for another cooldown
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    autojump_clock.jump(30.0)
    assert breaker.allow()
    breaker.abandoned()  # the client left: the next request probes instead
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert breaker.retry_in() == 0.0


async def test_circuit_breaker_disabled_with_zero_failures() -> None:
    breaker = CircuitBreaker(failures=0)
    for _ in range(50):
        breaker.failed()
    assert breaker.allow()


async def test_rate_limiter_bursts_then_queues_fifo_then_refuses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(rpm=60, queue=2, burst=2)  # one token a second
    start = trio.current_time()
    await limiter.acquire()
    await limiter.acquire()  # the burst
    assert trio.current_time() == start
    order: list[tuple[int, float]] = []

    async def queued(n: int, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await limiter.acquire()
        order.append((n, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        await nursery.start(queued, 1)
        await nursery.start(queued, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert len(limiter.waiters) == 2
        with pytest.raises(RateLimited) as refused:
            await limiter.acquire()
        assert refused.value.retry_after == 3
        assert "60 requests per minute" in refused.value.message
    assert order == [(1, pytest.approx(1.0)), (2, pytest.approx(2.0))]
    assert not limiter.waiters


async def test_rate_limiter_cancelled_waiter_leaves_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(rpm=60, queue=4, burst=1)
    await limiter.acquire()
    served: list[int] = []

    async def waiter(n: int, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await limiter.acquire()
            served.append(n)

    async with trio.open_nursery() as nursery:
        first: trio.CancelScope = await nursery.start(waiter, 1)
        await nursery.start(waiter, 2)
        await trio.testing.wait_all_tasks_blocked()
        first.cancel()  # the head leaves (client disconnected): the next one moves up
    assert served == [2]
    assert not limiter.waiters


async def test_reliability_registry_follows_config() -> None:
    rel = Reliability()
    assert rel.limiter("a", ServerConfig()) is None
    bucket = rel.limiter("a", ServerConfig(rate_limit_rpm=60, rate_limit_queue=3))
    assert bucket is not None and bucket.burst == 10 and bucket.queue == 3
    assert rel.limiter("a", ServerConfig(rate_limit_rpm=120, rate_limit_queue=3)) is bucket
    assert bucket.rpm == 120
    assert rel.limiter("b", ServerConfig(rate_limit_rpm=60)) is not bucket
    breaker = rel.breaker("kiro", UpstreamConfig(circuit_failures=2, circuit_cooldown=5.0))
    assert (breaker.failures, breaker.cooldown) == (2, 5.0)
    assert rel.breaker("kiro", UpstreamConfig()) is breaker and breaker.failures == 5
