# The last failed upstream exchange per provider: status, headers and the first bytes of the
# body, kept in memory for `aiclient doctor --report`. Redacted when read, never logged.
"""Recorder of failed upstream exchanges (HTTP status >= 400).

Providers wrap their upstream clients once, where they create them: `watch_httpx(client,
name)` adds a response hook to an httpx client, `watch_upstream(upstream, name)` wraps a
lean `Upstream`. Neither reads anything itself: the body bytes are copied as the caller
reads them, so streaming and error mapping behave exactly as before. `last_failures()`
returns the redacted entries (the daemon serves them on the control socket as
`upstream.failures`; `aiclient doctor` reads them in its own process too).

One process, one table: the daemon runs each provider once, and the doctor's in-process
probe runs while no daemon does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from aiclient_trio.log import MASK, redact
from aiclient_trio.providers.transport import Response, Upstream

__all__ = ["FailedExchange", "clear", "last_failures", "record", "watch_httpx", "watch_upstream"]

# Enough of an error body to read its message; a body is never kept whole.
FIRST_BYTES = 2048
# Header values that are credentials whatever they look like.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


@dataclass(slots=True)
class FailedExchange:
    provider: str
    method: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    at: float = field(default_factory=time.time)
    first_bytes: bytearray = field(default_factory=bytearray)

    def take(self, chunk: bytes) -> None:
        room = FIRST_BYTES - len(self.first_bytes)
        if room > 0:
            self.first_bytes += chunk[:room]

    def to_json(self) -> dict[str, Any]:
        """Redacted: no query string, credential headers masked, text through `redact()`."""
        parts = urlsplit(self.url)
        return {
            "provider": self.provider,
            "at": self.at,
            "method": self.method,
            "url": redact(f"{parts.scheme}://{parts.netloc}{parts.path}"),
            "path": parts.path,
            "status": self.status,
            "headers": [
                [name, MASK if name.lower() in _SECRET_HEADERS else redact(value)]
                for name, value in self.headers
            ],
            "first_bytes": redact(bytes(self.first_bytes).decode("utf-8", "replace")),
        }


_last: dict[str, FailedExchange] = {}


def record(
    provider: str, method: str, url: str, status: int, headers: Mapping[str, str]
) -> FailedExchange:
    """Start an entry (the body arrives later, through `FailedExchange.take`)."""
    entry = FailedExchange(provider, method, str(url), status, list(headers.items()))
    _last[provider] = entry
    return entry


def last_failures() -> dict[str, dict[str, Any]]:
    return {name: entry.to_json() for name, entry in sorted(_last.items())}


def clear() -> None:
    _last.clear()


# -- httpx clients ------------------------------------------------------------------------------


class _TeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, entry: FailedExchange) -> None:
        self._inner = inner
        self._entry = entry

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._entry.take(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def watch_httpx(client: httpx.AsyncClient, provider: str) -> httpx.AsyncClient:
    """Record the client's failed answers (the hook runs before anyone reads the body)."""

    async def on_response(response: httpx.Response) -> None:
        if response.status_code >= 400:
            request = response.request
            entry = record(
                provider, request.method, str(request.url), response.status_code, response.headers
            )
            response.stream = _TeeStream(response.stream, entry)

    hooks = dict(client.event_hooks)
    hooks["response"] = [*hooks.get("response", []), on_response]
    client.event_hooks = hooks
    return client


# -- the lean upstream client -------------------------------------------------------------------


class _WatchedResponse:
    """A failed response whose body bytes are copied into its entry as they are read."""

    def __init__(self, inner: Response, entry: FailedExchange) -> None:
        self._inner = inner
        self._entry = entry

    @property
    def status_code(self) -> int:
        return self._inner.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._inner.headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.aiter_raw():
            self._entry.take(chunk)
            yield chunk

    async def aread(self) -> bytes:
        body = await self._inner.aread()
        self._entry.take(body)
        return body

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _WatchedUpstream:
    def __init__(self, inner: Upstream, provider: str) -> None:
        self.inner = inner
        self.provider = provider

    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Response:
        response = await self.inner.open(method, url, headers=headers, content=content)
        if response.status_code < 400:
            return response
        entry = record(self.provider, method, url, response.status_code, response.headers)
        return _WatchedResponse(response, entry)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def watch_upstream(upstream: Upstream, provider: str) -> Upstream:
    return _WatchedUpstream(upstream, provider)
