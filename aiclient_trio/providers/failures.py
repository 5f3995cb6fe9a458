"""Recorder of failed upstream exchanges (HTTP status >= 400).

The last failed upstream exchange per provider: status, headers and the first bytes of the
body, kept in memory for `aiclient doctor --report`. Redacted when read, never logged.

A provider hands its connection pool to `watch_pool(pool, name)` once, where it creates it:
every call on the pool (the hot path and the httpx client built on it) then records a failed
answer's status and headers, and copies the first bytes of its body as the caller reads them;
nothing is read on the recorder's behalf, so error mapping and streaming behave as before.
`last_failures()` returns the entries redacted (the daemon serves them on the control
socket as `upstream.failures`; `aiclient doctor` reads them in its own process too).

One process, one table: the daemon runs each provider once, and the doctor's in-process
probe runs while no daemon does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiclient_trio.redact import MASK, redact
from aiclient_trio.upstream import Pool, Timeouts, UpstreamResponse

__all__ = ["FailedExchange", "clear", "last_failures", "record", "watch_pool"]

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


def _copy_body(response: UpstreamResponse, entry: FailedExchange) -> None:
    """Have the response copy its body bytes into `entry` as they are read (both `aread()`
    and `aiter_raw()` take them from `_next()`)."""
    read = response._next

    async def next_bytes() -> bytes | None:
        data = await read()
        if data:
            entry.take(data)
        return data

    response._next = next_bytes  # type: ignore[method-assign]


def watch_pool(pool: Pool, provider: str) -> Pool:
    """Record the failed answers of every call on `pool` under `provider`; returns `pool`."""
    opened = pool.open

    async def open(
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        content: bytes | None = None,
        timeouts: Timeouts | None = None,
    ) -> UpstreamResponse:
        response = await opened(method, url, headers=headers, content=content, timeouts=timeouts)
        if response.status_code >= 400:
            entry = record(provider, method, url, response.status_code, response.headers)
            _copy_body(response, entry)
        return response

    pool.open = open  # type: ignore[method-assign]
    return pool
