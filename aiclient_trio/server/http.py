"""Small HTTP helpers of the server: header access on the ASGI scope, the one JSON serialiser,
error bodies in a route's shape, and `ResponseSink`, which turns an exchange's response
messages into a Quart response (whole, or streamed event by event).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

import trio
from quart import Response
from werkzeug.datastructures import Headers

from aiclient_trio.errors import GatewayError, anthropic_error_body, openai_error_body
from aiclient_trio.ir import WireFormat

__all__ = [
    "JSON_TYPE",
    "RawHeaders",
    "Receive",
    "ResponseSink",
    "Scope",
    "Send",
    "base_headers",
    "dumps",
    "encode_headers",
    "error_body",
    "header",
    "response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_TYPE = b"application/json"


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (no spaces), the one serialiser of the hot path."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def encode_headers(headers: Iterable[tuple[str, str]]) -> RawHeaders:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def error_body(error: GatewayError, fmt: WireFormat, request_id: str) -> dict[str, Any]:
    """The error in the route's own shape (Responses non-stream errors use OpenAI's)."""
    if fmt == "anthropic":
        return anthropic_error_body(error, request_id)
    return openai_error_body(error)


def base_headers(fmt: WireFormat, request_id: str) -> RawHeaders:
    rid = request_id.encode("latin-1")
    if fmt == "anthropic":
        return [(b"x-request-id", rid), (b"request-id", rid)]
    return [(b"x-request-id", rid)]


def response(status: int, body: bytes | AsyncIterator[bytes], headers: RawHeaders) -> Response:
    """A Quart response from raw header pairs (no default content type added)."""
    pairs = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers])
    return Response(body, status=status, headers=pairs)


class KeepAlive(Protocol):
    """What the streamed body asks of its exchange when the stream has been quiet."""

    last_write: float

    def keep_alive(self, interval: float) -> bytes: ...


class ResponseSink:
    """The `send` of an exchange: its `http.response.start` message is kept for the handler's
    Quart response; body bytes are collected (a whole answer, sent by the handler) or, once
    `stream()` was called, handed to the streamed body through a one-slot channel (a slow
    client holds the relay back instead of filling memory)."""

    __slots__ = ("_rx", "_tx", "head_ready", "headers", "parts", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: RawHeaders = []
        self.head_ready = trio.Event()
        self.parts: list[bytes] = []
        self._tx: trio.MemorySendChannel[bytes] | None = None
        self._rx: trio.MemoryReceiveChannel[bytes] | None = None

    def stream(self) -> None:
        self._tx, self._rx = trio.open_memory_channel[bytes](1)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.headers = message["status"], message["headers"]
            self.head_ready.set()
            return
        body: bytes = message.get("body", b"")
        if self._tx is None:
            self.parts.append(body)
            return
        try:
            if body:
                await self._tx.send(body)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the body was closed: the client is gone and quart-trio cancels the work
        if not message.get("more_body", False):
            self._tx.close()

    def whole(self) -> Response:
        """The collected answer."""
        return response(self.status, b"".join(self.parts), self.headers)

    def streamed(self, ex: KeepAlive, ping_interval: float) -> Response:
        """The answer as it comes: each body message is flushed on its own."""
        assert self._rx is not None
        return response(self.status, _body(self._rx, ex, ping_interval), self.headers)


async def _body(
    rx: trio.MemoryReceiveChannel[bytes], ex: KeepAlive, interval: float
) -> AsyncIterator[bytes]:
    """Bytes as the exchange sends them; after `interval` seconds of silence, what it holds or
    a keep-alive event. No nursery here (trio #638): the relay runs in quart-trio's request
    nursery, which quart-trio cancels when the client hangs up."""
    try:
        while True:
            wake = ex.last_write + interval if interval != math.inf else math.inf
            with trio.move_on_at(wake) as timer:
                try:
                    chunk = await rx.receive()
                except trio.EndOfChannel:
                    return
            if timer.cancelled_caught:
                chunk = ex.keep_alive(interval)
                if not chunk:
                    continue
            yield chunk
    finally:
        rx.close()
