"""The ASGI plumbing every simulated service shares (GitHub, Copilot API, Kiro).

Each fake service is a bare ASGI app that hypercorn serves on loopback: the types, the
lifespan answer, reading a request body and its headers, and the serving itself live here
once. Like the rest of `simulator`, it imports nothing from the gateway it simulates against.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any
from wsgiref.handlers import format_date_time

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

__all__ = [
    "App",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "not_http",
    "read_body",
    "scope_headers",
    "serve_app",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Long idle keep-alive: tests run on a virtual clock that may jump hours ahead.
LONG_KEEP_ALIVE = 86400.0


async def not_http(scope: Scope, receive: Receive, send: Send) -> bool:
    """True when `scope` is no HTTP request (the app then returns): a lifespan scope is
    answered here until shutdown, any other kind is ignored."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return True
    return bool(scope["type"] != "http")


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client left before sending all of it."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


def scope_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (a repeated one: its last value)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _dated(app: App, clock_offset: Callable[[], float]) -> App:
    """`app` with a `Date` header on every answer, read from a clock `clock_offset()` ahead."""

    async def dated(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = format_date_time(time.time() + clock_offset()).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", stamp)]}
            await send(message)

        await app(scope, receive, send_dated)

    return dated


async def serve_app(
    app: App,
    *,
    task_status: trio.TaskStatus[str],
    bind: str = "127.0.0.1:0",
    keep_alive: float = LONG_KEEP_ALIVE,
    clock_offset: Callable[[], float] | None = None,
) -> None:
    """Serve `app` on `bind` until cancelled and report its base URL (`http://HOST:PORT`).

    With `clock_offset`, the `Date` header comes from that skewed clock instead of hypercorn's.
    """
    config = HypercornConfig()
    if clock_offset is not None:
        config.include_date_header = False
        app = _dated(app, clock_offset)
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 1024
    config.graceful_timeout = 0.1
    config.keep_alive_timeout = keep_alive
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, app, config, mode="asgi")  # type: ignore[arg-type]
        )
        task_status.started(binds[0].rstrip("/"))
