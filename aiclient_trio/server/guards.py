"""Request guards run before any route work: request id, Host and Origin checks, API key,
body size and JSON depth limits. Each refusal is a `GatewayError` the caller renders.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TypeVar

from aiclient_trio.config.types import Config
from aiclient_trio.errors import (
    AuthenticationError,
    PermissionDenied,
)
from aiclient_trio.server.http import Scope, header

__all__ = [
    "check_api_key",
    "check_host",
    "check_origin",
    "cors_headers",
    "request_id_for",
    "run_guards",
]

T = TypeVar("T")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


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
