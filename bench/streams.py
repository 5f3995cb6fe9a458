# Streaming measurements over raw trio sockets (no client library in the way): time to first
# event, arrival times per event, many concurrent slow streams, and disconnect-to-upstream-close.
"""Async helpers; the harness runs them with `trio.run`."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import trio

EVENT_MARKS = (b"data:", b"\x00\x00\x00")  # SSE lines; (unused) event-stream prelude


@dataclass
class StreamResult:
    status: int = 0
    sent_at: float = 0.0
    first_event: float | None = None
    times: list[float] = field(default_factory=list)  # arrival time of each chunk with events
    events: int = 0
    complete: bool = False
    error: str | None = None


def _request(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    raw = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        "content-type: application/json",
        f"content-length: {len(raw)}",
        "connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + raw


async def stream(
    port: int,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    stop_after_first: bool = False,
    timeout: float = 60.0,  # noqa: ASYNC109 - one deadline per stream, kept simple
) -> StreamResult:
    """POST and read the response to its end, timing every chunk that carries `data:` lines.

    With `stop_after_first`, close the socket as soon as the first event arrives and return
    (`times[0]` is then the moment of the close)."""
    result = StreamResult()
    with trio.move_on_after(timeout) as scope:
        sock = await trio.open_tcp_stream("127.0.0.1", port)
        try:
            result.sent_at = time.monotonic()
            await sock.send_all(_request(port, path, body, headers or {}))
            buf = b""
            head_done = False
            tail = b""
            while True:
                chunk = await sock.receive_some(65536)
                now = time.monotonic()
                if not chunk:
                    result.complete = True
                    break
                if not head_done:
                    buf += chunk
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    result.status = int(buf.split(b" ", 2)[1])
                    head_done = True
                    chunk = buf[end + 4 :]
                window = tail + chunk
                found = window.count(b"data:")
                tail = window[-4:]
                if found:
                    result.events += found
                    result.times.append(now)
                    if result.first_event is None:
                        result.first_event = now
                        if stop_after_first:
                            await sock.aclose()
                            result.times[0] = time.monotonic()
                            return result
        finally:
            await sock.aclose()
    if scope.cancelled_caught:
        result.error = "timeout"
    return result


def worst_gap(result: StreamResult) -> float:
    times = result.times
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def many_streams(
    port: int,
    path: str,
    count: int,
    body_for: Any,
    timeout: float,  # noqa: ASYNC109
) -> list[StreamResult]:
    results: list[StreamResult] = [StreamResult() for _ in range(count)]

    async def one(i: int) -> None:
        try:
            results[i] = await stream(port, path, body_for(i), timeout=timeout)
        except OSError as exc:
            results[i].error = type(exc).__name__

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    return results


async def disconnects(
    port: int, path: str, count: int, body_for: Any, parallel: int = 10
) -> dict[str, float]:
    """Open `count` streams (`parallel` at a time), hang up after the first event; returns
    {stream id: monotonic time of the hang-up}."""
    closed_at: dict[str, float] = {}
    limiter = trio.CapacityLimiter(parallel)

    async def one(i: int) -> None:
        async with limiter:
            body = body_for(i)
            result = await stream(port, path, body, stop_after_first=True, timeout=20)
            if result.first_event is not None:
                closed_at[f"c{i}"] = result.times[0]

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    return closed_at
