"""Daemon test hooks for the usage audit: a scripted provider whose streams outlive SIGTERM.

The real daemon runs them as the "usage" profile of tests/aiclient_entry.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio
from daemon_hooks import ASGI
from fakes import FakeProvider, text_events

from aiclient_trio import ir
from aiclient_trio.config.types import Config
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import ModelInfo, ProviderState, RequestContext

# The daemon's gateway, stored by `remember_gateway` (the app hook) for the provider.
_GATEWAY: list[Gateway] = []


def remember_gateway(gateway: Gateway, app: ASGI) -> ASGI:
    _GATEWAY.append(gateway)
    return app


class UsageProvider(FakeProvider):
    """`quick` answers at once; `slow` finishes shortly after a drain begins; `hang` never ends.

    Every answer reports exact usage: 11 input and 7 output tokens.
    """

    def __init__(self, config: Config | None = None) -> None:
        super().__init__("steady", ("quick", "slow", "hang"))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.set_status(ProviderState.READY)
        task_status.started()
        await trio.sleep_forever()

    async def quota(self) -> dict[str, Any] | None:
        return None

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        ctx.upstream_model = model.id
        ctx.initiator = "user"
        script = text_events(model=model.id, chunks=2)

        async def events() -> AsyncIterator[ir.StreamEvent]:
            for i, event in enumerate(script):
                if i == 3 and model.id == "slow":  # after the first text delta
                    await _GATEWAY[0].draining.wait()
                    await trio.sleep(0.3)  # work that goes on during the drain
                if i == 3 and model.id == "hang":
                    await trio.sleep_forever()
                yield event

        yield events()

    def models(self) -> Sequence[ModelInfo]:
        return self._models
