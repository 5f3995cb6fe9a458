"""Request guards run before any route work: request id, Host and Origin checks, API key,
body size and JSON depth limits. Each refusal is a `GatewayError` the caller renders.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from aiclient_trio import untrusted
from aiclient_trio.config.types import Config
from aiclient_trio.errors import (
    AuthenticationError,
    InvalidRequest,
    PermissionDenied,
    RequestTimeout,
    RequestTooLarge,
)
from aiclient_trio.server.http import Receive, Scope, header

__all__ = [
    "ClientDisconnected",
    "check_api_key",
    "check_host",
    "check_origin",
    "cors_headers",
    "json_depth_exceeds",
    "off_loop_if_big",
    "parse_json_body",
    "parse_json_body_off_loop",
    "read_body",
    "request_id_for",
    "run_guards",
]

T = TypeVar("T")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# JSON strings (with escapes) and then every byte that is not a bracket.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(rb"\{\}|\[\]")
# Bodies at least this big are parsed, and their heavy work done, off the event loop.
_THREAD_PARSE_BYTES = 512 * 1024
# Objects and arrays one body may hold (a long agent session has a few thousand messages
# of a few blocks each); beyond, the Python objects alone would take gigabytes.
MAX_JSON_CONTAINERS = 250_000


class ClientDisconnected(Exception):
    """The client went away while we were still reading its request."""


def request_id_for(scope: Scope) -> str:
    """The client's `x-request-id` when well-formed, else a fresh `req_<hex>`."""
    given = header(scope, b"x-request-id")
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return "req_" + secrets.token_hex(12)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def check_host(scope: Scope, config: Config) -> None:
    """Refuse a Host outside the allow-list (DNS rebinding defence)."""
    value = header(scope, b"host")
    if value is None:
        return  # HTTP/1.0 without Host: nothing a browser would send
    name = _host_name(value)
    if name in _LOOPBACK_HOSTS:
        return
    allowed = {_host_name(h) for h in (config.server.host, *config.server.allowed_hosts)}
    if name in allowed:
        return
    raise PermissionDenied(
        f"Host {name!r} is not allowed; add it to server.allowed_hosts to accept it"
    )


def check_origin(scope: Scope, config: Config) -> str | None:
    """A browser's Origin must be configured in server.cors_origins; returns the origin."""
    origin = header(scope, b"origin")
    if origin is None:
        return None
    if origin in config.server.cors_origins:
        return origin
    raise PermissionDenied(
        f"requests from origin {origin!r} are refused; add it to server.cors_origins to allow it"
    )


def run_guards(scope: Scope, config: Config, *, api: bool) -> list[tuple[bytes, bytes]]:
    """Host, Origin and (when `api`) the API key; returns the CORS headers to add."""
    check_host(scope, config)
    origin = check_origin(scope, config)
    if api:
        check_api_key(scope, config)
    return cors_headers(origin)


def cors_headers(origin: str | None, preflight: bool = False) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    out = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
    if preflight:
        out += [
            (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
            (
                b"access-control-allow-headers",
                b"authorization, x-api-key, content-type, anthropic-version, anthropic-beta, "
                b"x-request-id, x-provider, x-output-format",
            ),
            (b"access-control-max-age", b"600"),
        ]
    return out


def check_api_key(scope: Scope, config: Config) -> None:
    """When `api_key` is set, require it as `Authorization: Bearer` or `x-api-key`."""
    expected = config.api_key
    if not expected:
        return
    given = header(scope, b"x-api-key")
    if given is None:
        auth = header(scope, b"authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "bearer":
                given = token.strip()
    if given is None:
        raise AuthenticationError(
            "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'"
        )
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise AuthenticationError(
            "invalid API key: it does not match the gateway's api_key; "
            "`aiclient env <client> --show-key` prints a working setup"
        )


async def read_body(scope: Scope, receive: Receive, limit: int, within: float = math.inf) -> bytes:
    """The whole request body; 413 as soon as it is known to exceed `limit`, 408 when it has
    not arrived in full `within` seconds (an upload that stalls, chunked or short of
    its Content-Length, would otherwise hold the connection forever)."""
    too_large = RequestTooLarge(f"request body exceeds the limit of {limit} bytes")
    length = header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    with trio.move_on_after(within):
        return await _receive_body(receive, limit, too_large, chunks)
    raise RequestTimeout(
        f"the request body did not arrive in full within {within:g} s "
        f"({sum(map(len, chunks))} bytes came); send the whole body at once "
        "(server.body_timeout sets the limit)"
    )


async def _receive_body(
    receive: Receive, limit: int, too_large: RequestTooLarge, chunks: list[bytes]
) -> bytes:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when valid JSON `body` nests deeper than `limit` (C-speed passes, no recursion)."""
    return _depth_exceeds(_brackets(body), limit)


def _brackets(body: bytes) -> bytes:
    return _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))


def _depth_exceeds(brackets: bytes, limit: int) -> bool:
    depth = 0
    while brackets:
        depth += 1
        if depth > limit:
            return True
        fewer = _EMPTY_PAIR.sub(b"", brackets)
        if len(fewer) == len(brackets):
            # Unbalanced (truncated or invalid): too deep if its unclosed openers are, else
            # the parser says what is wrong (a truncated `{"model":` is not "too deep").
            openers = brackets.count(b"[") + brackets.count(b"{")
            return depth - 1 + openers > limit
        brackets = fewer
    return False


def parse_json_body(body: bytes, max_depth: int) -> dict[str, Any]:
    """A JSON object body, or InvalidRequest (bad or truncated JSON, NaN/Infinity, not an
    object, nested too deep, a string holding a lone surrogate: the error names its field).

    The depth and the number of objects and arrays are checked first (C-speed passes): a
    body past either limit is refused without building its objects. That bounds the memory
    a request can take: 32 MiB of tiny messages would be millions of Python objects."""
    brackets = _brackets(body)
    if _depth_exceeds(brackets, max_depth):
        raise InvalidRequest(f"JSON nesting exceeds the limit of {max_depth} levels")
    containers = brackets.count(b"{") + brackets.count(b"[")
    if containers > MAX_JSON_CONTAINERS:
        raise RequestTooLarge(
            f"request body holds {containers} JSON objects and arrays, over the limit of "
            f"{MAX_JSON_CONTAINERS}; send a shorter history (compact the conversation)"
        )
    try:
        value = untrusted.loads(body, what="request body")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a JSON object")
    where = untrusted.lone_surrogate_path(value, body)
    if where is not None:
        raise InvalidRequest(
            f"{where} holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
            "which is not text; send valid Unicode",
            param=where,
        )
    return value


async def off_loop_if_big(size: int, work: Callable[[], T]) -> T:
    """`work()` run in a worker thread when it is about a body of `size` bytes or more (CPU
    work on request data: parsing, token estimates, conversions), inline otherwise: the
    event loop keeps serving other streams and /healthz meanwhile."""
    if size < _THREAD_PARSE_BYTES:
        return work()
    return await trio.to_thread.run_sync(work)


async def parse_json_body_off_loop(body: bytes, max_depth: int) -> dict[str, Any]:
    """`parse_json_body`, in a worker thread for big bodies: parsing 32 MiB of JSON takes
    seconds, and the event loop must keep serving the other streams meanwhile."""
    if len(body) < _THREAD_PARSE_BYTES:
        return parse_json_body(body, max_depth)
    return await trio.to_thread.run_sync(parse_json_body, body, max_depth)
