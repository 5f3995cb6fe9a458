"""The one upstream HTTP client: a Trio keep-alive pool with h11 as its codec (`pool`), proxies
from the environment (`proxy`), and the same pool as an httpx transport (`transport`).

Knows no format and no provider. The hot path calls `Pool.open()`; everything else uses
`http_client(pool)`, an `httpx.AsyncClient` on the same connections (`blocking_call` for the
CLI's synchronous code).
"""

from __future__ import annotations

from aiclient_trio.upstream.pool import Pool, Response, Timeouts, UpstreamResponse
from aiclient_trio.upstream.proxy import Proxies, ProxyURL
from aiclient_trio.upstream.transport import (
    PoolTransport,
    blocking_call,
    http_client,
    one_off_client,
)

__all__ = [
    "Pool",
    "PoolTransport",
    "Proxies",
    "ProxyURL",
    "Response",
    "Timeouts",
    "UpstreamResponse",
    "blocking_call",
    "http_client",
    "one_off_client",
]
