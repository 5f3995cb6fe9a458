"""Small ASGI helpers shared by the lean hot-path handlers and the app entry point.

Hot routes bypass Quart, so they send `http.response.start`/`http.response.body` themselves.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from aiclient_trio.errors import (
    GatewayError,
    anthropic_error_body,
    error_headers,
    openai_error_body,
)
from aiclient_trio.ir import WireFormat

__all__ = [
    "ASGIApp",
    "RawHeaders",
    "Receive",
    "Scope",
    "Send",
    "base_headers",
    "dumps",
    "error_body",
    "header",
    "send_bytes",
    "send_error",
    "send_json",
    "start_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_TYPE = b"application/json"


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (no spaces), the one serialiser of the hot path.

    Text that cannot be encoded (a lone surrogate someone echoed) goes out as a JSON escape
    rather than failing the response."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def encode_headers(headers: Iterable[tuple[str, str]]) -> RawHeaders:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def start_response(send: Send, status: int, headers: RawHeaders) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_bytes(send: Send, status: int, body: bytes, headers: RawHeaders) -> None:
    """A complete response in two ASGI messages."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await start_response(send, status, headers)
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(send: Send, status: int, value: Any, headers: RawHeaders) -> None:
    await send_bytes(send, status, dumps(value), [(b"content-type", JSON_TYPE), *headers])


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


async def send_error(
    send: Send,
    error: GatewayError,
    fmt: WireFormat,
    request_id: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    headers = [
        *base_headers(fmt, request_id),
        *encode_headers(error_headers(error).items()),
        *extra,
    ]
    await send_json(send, error.status, error_body(error, fmt, request_id), headers)
