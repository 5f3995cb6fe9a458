"""Supervisor: backoff restarts, published states, isolation and runtime enable/disable."""

from __future__ import annotations

import pytest
import trio
from daemon_hooks import FlakyProvider
from trio_util import AsyncValue

from aiclient_trio.config.types import Config
from aiclient_trio.daemon.supervisor import (
    BackoffPolicy,
    BrokenProvider,
    ProviderManager,
    describe_exception,
    supervise,
)
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import Provider, ProviderState

READY, ERROR = ProviderState.READY, ProviderState.ERROR


async def wait_state(provider: Provider, state: ProviderState) -> None:
    await provider.status.wait_value(lambda s: s.state == state)


async def test_restarts_with_exponential_backoff_then_publishes_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = FlakyProvider()
    provider.fail_first = 4
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, provider)
        await wait_state(provider, READY)
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(provider.starts, provider.starts[1:], strict=False)]
    assert gaps == pytest.approx([1, 2, 4, 8])
    assert provider.history == [ERROR, ERROR, ERROR, ERROR, READY]


async def test_error_reason_names_the_exception_without_secrets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = FlakyProvider()
    provider.fail_first = 1
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, provider)
        await wait_state(provider, ERROR)
        status = provider.status.value
        nursery.cancel_scope.cancel()
    assert status.reason is not None
    assert status.reason.startswith("ConnectionError: upstream refused Bearer [REDACTED]")
    assert "restarting in 1s" in status.reason
    assert "sk-test" not in status.reason
    assert status.fix == "aiclient logs --level warning"


async def test_backoff_caps_and_resets_after_a_healthy_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = FlakyProvider()
    provider.fail_first = 8
    policy = BackoffPolicy(initial=1, maximum=10, healthy_after=60)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: supervise(provider, policy=policy, task_status=task_status)
        )
        await wait_state(provider, READY)
        gaps = [b - a for a, b in zip(provider.starts, provider.starts[1:], strict=False)]
        assert gaps == pytest.approx([1, 2, 4, 8, 10, 10, 10, 10])
        # Healthy for longer than healthy_after: the next crash waits the initial delay again.
        autojump_clock.jump(61)
        crash_at = trio.current_time()
        provider.crash.set()
        await wait_state(provider, ERROR)
        await wait_state(provider, READY)
        assert provider.starts[-1] - crash_at == pytest.approx(1)
        # Crashing again right away doubles the delay.
        crash_at = trio.current_time()
        provider.crash.set()
        await wait_state(provider, ERROR)
        await wait_state(provider, READY)
        assert provider.starts[-1] - crash_at == pytest.approx(2)
        nursery.cancel_scope.cancel()


async def test_manager_isolates_providers_and_enables_disables_at_runtime(
    autojump_clock: trio.testing.MockClock,
) -> None:
    made: dict[str, FlakyProvider] = {}

    def factory(name: str, config: Config) -> Provider:
        if name == "broken":
            raise ImportError("No module named 'aiclient_trio.providers.broken'")
        made[name] = FlakyProvider(config, name=name)
        return made[name]

    gateway = Gateway(config=AsyncValue(Config()))
    async with trio.open_nursery() as nursery:
        manager = ProviderManager(gateway, nursery, factory)
        await manager.start("a")
        await manager.start("b")
        await manager.start("broken")
        assert isinstance(gateway.providers["broken"], BrokenProvider)
        assert gateway.providers["broken"].status.value.state == ERROR
        assert "No module named" in (gateway.providers["broken"].status.value.reason or "")
        await wait_state(made["a"], READY)
        await wait_state(made["b"], READY)
        # One provider crashing leaves the other ready and the nursery alive.
        made["a"].crash.set()
        await wait_state(made["a"], ERROR)
        assert made["b"].status.value.state == READY
        await wait_state(made["a"], READY)
        # Disable: the supervisor is cancelled, the provider closed and marked disabled.
        await manager.stop("b")
        assert "b" not in gateway.providers
        assert made["b"].closed
        assert made["b"].status.value.state == ProviderState.DISABLED
        assert manager.running() == ["a", "broken"]
        # Re-enable builds a fresh instance.
        old_b = made["b"]
        await manager.start("b")
        assert made["b"] is not old_b
        await wait_state(made["b"], READY)
        await manager.stop_all()
        assert gateway.providers == {}
        assert not nursery.child_tasks


def test_describe_exception_unwraps_single_groups() -> None:
    group = ExceptionGroup("x", [ValueError("bad value\nsecond line")])
    assert describe_exception(group) == "ValueError: bad value"
    assert describe_exception(RuntimeError()) == "RuntimeError"
