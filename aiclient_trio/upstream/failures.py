"""What every provider does the same way when an upstream call fails or is cut short: the
`GatewayError` a transport failure becomes (before the answer's head, or while reading its
body), and the closing of a body read only in part."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from aiclient_trio.errors import GatewayError, UpstreamError, UpstreamTimeout
from aiclient_trio.upstream.pool import Response

__all__ = ["broken_body", "close_body", "transport_error"]


def transport_error(exc: httpx.HTTPError, service: str) -> GatewayError:
    """A failure to talk to `service` ("Copilot", "Kiro") as the error the client sees."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{service} did not answer in time ({type(exc).__name__})")
    return UpstreamError(f"could not reach {service} ({type(exc).__name__})")


def broken_body(exc: httpx.HTTPError, service: str) -> GatewayError:
    """A failure while reading `service`'s answer body (after its head arrived): a read that
    timed out is a timeout, anything else a broken stream."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{service} stopped sending mid-answer ({type(exc).__name__})")
    return UpstreamError(f"the {service} stream broke off ({type(exc).__name__})")


async def close_body(response: Response, raw: AsyncIterator[bytes]) -> None:
    """Abort the upstream call now, then run httpx's nested body generators to their end.

    Closing only the outer generator would leave the inner ones to the garbage collector
    (a ResourceWarning under Trio); once the connection is closed they end at once.
    """
    await response.aclose()
    try:
        async for _ in raw:
            pass
    except Exception:  # the closed stream may raise instead of ending
        pass
