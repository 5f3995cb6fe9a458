"""Supervisors for providers.

Provider supervision: restart a crashed provider with exponential backoff, publish its
state, and start/stop providers at runtime, each in its own cancel scope so one never
cancels the daemon.

`supervise(provider)` runs `provider.run()` forever: a crash marks the provider
`ProviderState.ERROR` with the reason (published through `provider.status`), waits
(1 s doubling to 60 s; reset once a run stayed up for `healthy_after`) and starts it again.
`ProviderManager` owns one supervisor per enabled provider inside the daemon nursery and
keeps `gateway.providers` in step with runtime enable/disable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import trio

from aiclient_trio import ir
from aiclient_trio.config.types import Config
from aiclient_trio.errors import ProviderUnavailable, describe_exception
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import (
    ModelInfo,
    Provider,
    ProviderState,
    ProviderStatus,
    RequestContext,
)

__all__ = [
    "BackoffPolicy",
    "BrokenProvider",
    "ProviderFactory",
    "ProviderManager",
    "describe_exception",
    "supervise",
]

log = logging.getLogger("aiclient.supervisor")

ProviderFactory = Callable[[str, Config], Provider]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial: float = 1.0
    maximum: float = 60.0
    # A run that stayed up this long counts as healthy: the next crash waits `initial` again.
    healthy_after: float = 60.0


async def supervise(
    provider: Provider,
    *,
    policy: BackoffPolicy = BackoffPolicy(),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `provider.run()` until cancelled, restarting it with backoff when it fails."""
    task_status.started()
    backoff = policy.initial
    name = getattr(provider, "name", type(provider).__name__)
    while True:
        began = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(provider.run)
            reason = "its task ended unexpectedly"
        except Exception as exc:
            reason = describe_exception(exc)
            log.warning(
                "provider %s failed: %s", name, reason, exc_info=log.isEnabledFor(logging.DEBUG)
            )
        if trio.current_time() - began >= policy.healthy_after:
            backoff = policy.initial
        provider.set_status(
            ProviderState.ERROR,
            f"{reason} (restarting in {backoff:g}s)",
            "aiclient logs --level warning",
        )
        log.info("restarting provider %s in %gs", name, backoff)
        await trio.sleep(backoff)
        backoff = min(backoff * 2, policy.maximum)


class BrokenProvider(Provider):
    """Stands in for a provider whose package failed to import or construct."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__()
        self.name = name
        self.status.value = ProviderStatus(
            ProviderState.ERROR, reason, "reinstall aiclient-trio or disable the provider"
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    def models(self) -> Sequence[ModelInfo]:
        return ()

    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[Any]:
        raise ProviderUnavailable(
            f"provider {self.name} is unavailable: {self.status.value.reason}"
        )


@dataclass(slots=True)
class _Running:
    provider: Provider
    scope: trio.CancelScope
    done: trio.Event


class ProviderManager:
    """Starts, stops and restarts provider supervisors inside `nursery`."""

    def __init__(
        self,
        gateway: Gateway,
        nursery: trio.Nursery,
        factory: ProviderFactory,
        *,
        policy: BackoffPolicy = BackoffPolicy(),
    ) -> None:
        self._gateway = gateway
        self._nursery = nursery
        self._factory = factory
        self._policy = policy
        self._running: dict[str, _Running] = {}
        self._lock = trio.Lock()

    def running(self) -> list[str]:
        return sorted(self._running)

    def _create(self, name: str) -> Provider:
        try:
            provider = self._factory(name, self._gateway.config.value)
        except Exception as exc:
            reason = f"cannot load provider: {describe_exception(exc)}"
            log.error("provider %s: %s", name, reason)
            return BrokenProvider(name, reason)
        if not getattr(provider, "name", None):
            provider.name = name
        return provider

    async def start(self, name: str) -> None:
        async with self._lock:
            if name in self._running:
                return
            provider = self._create(name)
            entry = _Running(provider, trio.CancelScope(), trio.Event())
            self._running[name] = entry
            self._gateway.providers[name] = provider
            await self._nursery.start(self._supervise, entry)
            log.info("provider %s enabled", name)

    async def _supervise(self, entry: _Running, *, task_status: trio.TaskStatus[None]) -> None:
        try:
            with entry.scope:
                await supervise(entry.provider, policy=self._policy, task_status=task_status)
        finally:
            entry.done.set()

    async def stop(self, name: str) -> None:
        async with self._lock:
            entry = self._running.pop(name, None)
            if entry is None:
                return
            entry.scope.cancel()
            await entry.done.wait()
            self._gateway.providers.pop(name, None)
            entry.provider.set_status(ProviderState.DISABLED, "disabled in the config")
            with trio.move_on_after(5) as cleanup:
                cleanup.shield = True
                try:
                    await entry.provider.aclose()
                except Exception as exc:
                    log.warning("provider %s: close failed: %s", name, describe_exception(exc))
            log.info("provider %s disabled", name)

    async def restart(self, name: str) -> None:
        """A fresh instance (re-reads credentials and config); no-op if not running."""
        if name in self._running:
            await self.stop(name)
            await self.start(name)

    async def stop_all(self) -> None:
        for name in list(self._running):
            await self.stop(name)
