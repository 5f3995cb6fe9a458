"""The pool as an `httpx.AsyncBaseTransport`: sign-in, token, quota and model-list calls use
`httpx.AsyncClient(transport=PoolTransport(pool))` and so share the hot path's connections,
timeouts, TLS settings and proxies. httpx's request and response objects cost ~0.3 ms of CPU a
call, so the hot path calls `Pool.open()` directly instead.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx
import trio

from aiclient_trio.upstream.pool import Pool, Timeouts, UpstreamResponse

__all__ = ["PoolTransport", "blocking_call", "http_client", "one_off_client"]


def _seconds(value: object, default: float) -> float:
    if value is None:
        return math.inf  # httpx's "no timeout"
    return float(value) if isinstance(value, int | float) else default


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: UpstreamResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class PoolTransport(httpx.AsyncBaseTransport):
    """httpx requests over a `Pool`; the request's own timeouts (httpx's) apply."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()  # off the hot path: bodies are small forms and JSON
        base = self.pool.timeouts
        given = request.extensions.get("timeout")
        timeouts = base
        if isinstance(given, dict):
            timeouts = Timeouts(
                connect=_seconds(given.get("connect", base.connect), base.connect),
                read=_seconds(given.get("read", base.read), base.read),
                write=_seconds(given.get("write", base.write), base.write),
                pool=_seconds(given.get("pool", base.pool), base.pool),
            )
        response = await self.pool.open(
            request.method,
            str(request.url),
            headers=request.headers.multi_items(),
            content=content if content or request.method in ("POST", "PUT", "PATCH") else None,
            timeouts=timeouts,
        )
        return httpx.Response(
            status_code=response.status_code,
            headers=list(response.headers.items()),
            stream=_Body(response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason_phrase.encode("latin-1"),
            },
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


def http_client(pool: Pool, *, timeout: httpx.Timeout | float | None = None) -> httpx.AsyncClient:
    """An httpx client on `pool` (its timeouts unless `timeout` is given); no redirects."""
    limits = pool.timeouts
    if timeout is None:
        timeout = httpx.Timeout(
            connect=limits.connect, read=limits.read, write=limits.write, pool=limits.pool
        )
    return httpx.AsyncClient(transport=PoolTransport(pool), timeout=timeout, follow_redirects=False)


def one_off_client(*, connect: float = 10.0, timeout: float = 30.0) -> httpx.AsyncClient:
    """An httpx client on a pool of its own, for a CLI command's sign-in calls (closing the
    client closes the pool)."""
    return http_client(Pool(Timeouts(connect=connect, read=timeout, write=timeout, pool=timeout)))


def blocking_call(
    method: str,
    url: str,
    timeout: float,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """One call from synchronous CLI code (outside any Trio run) on a pool of its own, so
    proxies, NO_PROXY and TLS settings are the daemon's; the answer read whole. Raises
    httpx's errors."""

    async def call() -> httpx.Response:
        async with one_off_client(connect=timeout, timeout=timeout) as client:
            return await client.request(method, url, headers=headers, content=content)

    return trio.run(call)
