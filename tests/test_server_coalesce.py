"""Stream write coalescing (server.stream_coalesce_ms): a write that follows the previous one
within the window pauses the relay (Exchange.pace) for the window; slow streams never pause."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from aiclient_trio.config import load_config
from aiclient_trio.server.exchange import Exchange

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
