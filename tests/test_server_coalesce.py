"""Stream write coalescing (server.stream_coalesce_ms): a write that follows the previous one
within the window pauses the relay (Exchange.pace) for the window; slow streams never pause."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from fakes import text_events

from aiclient_trio import ir
from aiclient_trio.config.load import load_config
from aiclient_trio.providers.base import ModelInfo, RequestContext
from aiclient_trio.server.exchange import Exchange
from aiclient_trio.server.relay import relay_stream

WINDOW = 0.004


def exchange(window: float, sent: list[tuple[float, bytes]]) -> Exchange:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent.append((trio.current_time(), message["body"]))

    ex = Exchange(send, "req-1", "/v1/chat/completions", "POST", "openai_chat")
    ex.coalesce = window
    return ex


async def write_at(ex: Exchange, when: float, body: bytes) -> float:
    """Write `body` at `when` (or as soon as the previous write returned); the return time."""
    await trio.sleep_until(max(when, trio.current_time()))
    await ex.write(body)
    await ex.pace()
    return trio.current_time()


async def test_a_burst_pauses_the_relay_one_window_per_write(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[tuple[float, bytes]] = []
    ex = exchange(WINDOW, sent)
    # The first write goes out and returns at once: nothing came just before it.
    assert await write_at(ex, 1.0, b"a") == 1.0
    # The next, 1 ms later, goes out at once too, then holds the relay for the window.
    assert await write_at(ex, 1.001, b"b") == pytest.approx(1.005)
    # Work that was waiting (the events that gathered meanwhile) goes out in one write.
    assert await write_at(ex, 1.002, b"cd") == pytest.approx(1.009)
    assert [body for _, body in sent] == [b"a", b"b", b"cd"]
    # No write waited: each left when the relay handed it over.
    assert [t for t, _ in sent] == pytest.approx([1.0, 1.001, 1.005])


async def test_a_slow_stream_never_pauses(autojump_clock: trio.testing.MockClock) -> None:
    sent: list[tuple[float, bytes]] = []
    ex = exchange(WINDOW, sent)
    for n in range(5):
        when = 2.0 + n * 0.010
        assert await write_at(ex, when, b"x") == pytest.approx(when)
    assert len(sent) == 5


async def test_window_zero_writes_every_event_without_pausing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[tuple[float, bytes]] = []
    ex = exchange(0.0, sent)
    for n in range(5):
        when = 3.0 + n * 0.0001
        assert await write_at(ex, when, b"x") == pytest.approx(when)


def test_the_default_window_is_4_ms(tmp_path: Any) -> None:
    config = load_config(path=tmp_path / "none.toml", environ={})
    assert config.server.stream_coalesce_ms == 4.0
    off = load_config(
        path=tmp_path / "none.toml", environ={"AICLIENT_SERVER_STREAM_COALESCE_MS": "0"}
    )
    assert off.server.stream_coalesce_ms == 0.0


# -- translated streams: what one upstream read renders leaves in one write ------------------


class ReadingProvider:
    """An upstream whose i-th batch of IR events arrives i ms after the start; a "read" takes
    every batch that has arrived (as a socket read takes what the kernel holds). Before each
    read it awaits ctx.before_read like the real providers, or never (`calls_hook=False`)."""

    def __init__(self, reads: list[list[ir.StreamEvent]], *, calls_hook: bool) -> None:
        self.reads, self.calls_hook = reads, calls_hook

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        start = trio.current_time()

        def arrival(i: int) -> float:
            return start + (i + 1) * 0.001

        async def events() -> AsyncIterator[ir.StreamEvent]:
            i = 0
            while i < len(self.reads):
                if self.calls_hook and ctx.before_read is not None:
                    await ctx.before_read()
                await trio.sleep_until(max(arrival(i), trio.current_time()))
                batch: list[ir.StreamEvent] = []
                while i < len(self.reads) and arrival(i) <= trio.current_time():
                    batch += self.reads[i]
                    i += 1
                for event in batch:
                    yield event

        yield events()


def reads_of_text(n_reads: int, per_read: int) -> list[list[ir.StreamEvent]]:
    events = text_events("x" * (n_reads * per_read), chunks=n_reads * per_read)
    head, deltas, tail = events[:2], events[2:-3], events[-3:]
    reads = [deltas[i : i + per_read] for i in range(0, len(deltas), per_read)]
    return [head + reads[0], *reads[1:], tail]


async def relay(provider: ReadingProvider, window: float) -> list[tuple[float, bytes]]:
    sent: list[tuple[float, bytes]] = []
    ex = exchange(window, sent)
    request = ir.Request(model="m", messages=(), stream=True)
    ctx = RequestContext(request_id="req-1", inbound_format="anthropic", client_model="m")
    model = ModelInfo(id="m", provider="fake")
    await relay_stream(ex, provider, model, request, ctx, "anthropic", "m")  # type: ignore[arg-type]
    return sent


async def test_events_of_one_read_leave_in_one_write(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reads = reads_of_text(n_reads=5, per_read=3)
    sent = await relay(ReadingProvider(reads, calls_hook=True), window=0.0)
    # One write per read (the last read's events go out with the end of the body).
    assert len(sent) == len(reads)
    body = b"".join(b for _, b in sent)
    assert body.count(b"event: content_block_delta") == 15
    assert body.index(b"message_start") < body.index(b"content_block_delta")
    assert body.rstrip().endswith(b'data: {"type":"message_stop"}')


async def test_a_paced_translated_stream_keeps_its_pace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Events 1 ms apart with a 4 ms window: fewer writes, and the stream is not slowed down
    (the pause overlaps the upstream's own pace)."""
    reads = reads_of_text(n_reads=40, per_read=1)
    start = trio.current_time()
    sent = await relay(ReadingProvider(reads, calls_hook=True), window=WINDOW)
    duration = trio.current_time() - start
    assert len(sent) < len(reads) / 2
    assert duration <= len(reads) * 0.001 + 2 * WINDOW
    # No event waited longer than a window plus one upstream gap.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
    assert max(gaps) <= WINDOW + 0.001 + 1e-9


async def test_without_the_hook_every_content_event_is_written_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reads = reads_of_text(n_reads=3, per_read=2)
    sent = await relay(ReadingProvider(reads, calls_hook=False), window=WINDOW)
    # Six content events, six writes (structural events ride along), then the end.
    assert len(sent) == 7
