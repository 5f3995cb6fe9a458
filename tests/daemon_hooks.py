"""Test providers and an app hook for supervisor and daemon tests.

The test harness hands them to the daemon as `Extensions` (tests/aiclient_entry.py, or
`DaemonOptions(extensions=...)` in process).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from aiclient_trio import ir
from aiclient_trio.config.types import Config
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import (
    ModelInfo,
    Provider,
    ProviderState,
    RequestContext,
)


class FlakyProvider(Provider):
    """Fails its first `fail_first` runs at once; later runs get ready, then crash on demand."""

    def __init__(self, config: Config | None = None, *, name: str = "flaky") -> None:
        super().__init__()
        self.name = name
        self.fail_first = 0
        self.starts: list[float] = []
        self.history: list[ProviderState] = []
        self.crash = trio.Event()
        self.closed = False

    def set_status(
        self, state: ProviderState, reason: str | None = None, fix: str | None = None
    ) -> None:
        self.history.append(state)
        super().set_status(state, reason, fix)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("upstream refused Bearer sk-test-0123456789abcdef")
        self.set_status(ProviderState.READY)
        task_status.started()
        await self.crash.wait()
        self.crash = trio.Event()
        raise RuntimeError("refresh loop crashed")

    async def aclose(self) -> None:
        self.closed = True

    def models(self) -> Sequence[ModelInfo]:
        return [ModelInfo(id="test-model", provider=self.name, context_window=1000)]

    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[AsyncIterator[ir.StreamEvent]]:
        raise NotImplementedError


class SteadyProvider(FlakyProvider):
    """Ready at once and stays so (for daemon tests)."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config, name="steady")

    async def quota(self) -> dict[str, Any] | None:
        return {"remaining": 42, "limit": 50, "unit": "requests"}


Scope = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def slow_route(gateway: Gateway, app: ASGI) -> ASGI:
    """Adds GET /test/slow and /test/stuck: both send a first chunk and then wait.

    /test/slow finishes shortly after the drain begins (so it is provably in flight when
    SIGTERM arrives and completes after it); /test/stuck only ends at the drain deadline.
    """

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in ("/test/slow", "/test/stuck"):
            await app(scope, receive, send)
            return
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        if scope["path"] == "/test/slow":
            await gateway.draining.wait()
            await trio.sleep(0.5)  # slow work that continues during the drain
            last = b"finished\n"
        else:  # never finishes by itself: ends like the server's streams at the deadline
            await gateway.drain_expired.wait()
            last = b"drain expired\n"
        await send({"type": "http.response.body", "body": last, "more_body": False})

    return wrapped
