"""A 429 (rate limit with a long wait) and a 5xx
fall back along an alias chain, and every fallback is logged and recorded in the ledger; a
client that hangs up right after a complete passthrough answer is recorded as served."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from fakes import (
    FakeProvider,
    Records,
    Script,
    load_json,
    make_gateway,
    open_raw_post,
    receive_until,
    serve,
)
from test_faults_copilot import IDLE, MARGIN, PATHS, _config, body, call, copilot_rig

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.errors import RateLimited, UpstreamError
from aiclient_trio.server.app import create_app

CHAIN = ("copilot/fake-model", "kiro/fake-model")


@pytest.mark.parametrize(
    "error",
    [RateLimited("slow down", retry_after=600.0), UpstreamError("bad gateway", status=503)],
)
async def test_rate_limit_and_5xx_fall_back_logged_and_recorded(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    copilot, kiro = FakeProvider("copilot"), FakeProvider("kiro")
    config = Config(upstream=UpstreamConfig(retries=0), aliases={"smart": CHAIN})
    gateway = make_gateway(copilot, kiro, config=config)
    records = Records(gateway)
    copilot.scripts["fake-model"] = Script(error=error)
    caplog.set_level(logging.INFO, logger="aiclient_trio.server")
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/chat/completions", json=load_json("chat_request.json", model="smart")
        )
        assert response.status_code == 200 and b'"error"' not in response.content
        (record,) = await records.wait(1)
    assert len(copilot.calls) == 1 and len(kiro.calls) == 1
    assert record.provider == "kiro" and record.fallback_from == ("copilot/fake-model",)
    assert "copilot/fake-model failed" in caplog.text and "trying the next target" in caplog.text


# -- a client that hangs up right after the terminal event ------------------------------------

TERMINAL = {
    "responses": b"event: response.completed",
    "anthropic": b"event: message_stop",
    "openai_chat": b"data: [DONE]",
}
MODELS = {"responses": "gpt-5-codex", "anthropic": "claude-sonnet-4.5", "openai_chat": "gpt-4o"}


async def _read_to_terminal(url: str, fmt: str) -> int:
    """Stream a passthrough answer over a bare socket and hang up as soon as the terminal
    event arrived (as Codex does after `response.completed`); returns the events seen."""
    stream = await open_raw_post(url, PATHS[fmt], body(fmt, MODELS[fmt], True))
    async with stream:
        seen = await receive_until(stream, TERMINAL[fmt])
        while not seen.endswith(b"\n\n\r\n"):  # the chunk that ends the terminal event
            seen += await receive_until(stream, b"\r\n")
    assert seen.startswith(b"HTTP/1.1 200 "), seen[:200]
    return seen.count(b"\n\n")


@pytest.mark.parametrize("fmt", sorted(TERMINAL))
async def test_hanging_up_after_the_whole_passthrough_message_is_not_a_cancellation(
    tmp_path: Path, fmt: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with copilot_rig(tmp_path, _config()) as rig:
        events = await _read_to_terminal(rig.url, fmt)
        # Now the upstream keeps its stream open after its last event, so the gateway is
        # still relaying when the client, which has the whole message, hangs up.
        rig.sim.state.faults.hold_after_events = events - 1  # less the simulator's comment
        await _read_to_terminal(rig.url, fmt)
        first, second = await rig.records.wait(2)
    assert first.outcome == "ok", first
    assert second.outcome == "ok", second
    assert second.usage is not None and second.usage.output_tokens > 0
    assert second.http_status == 200 and second.error_kind is None


@pytest.mark.parametrize("fmt", sorted(TERMINAL))
async def test_an_upstream_left_open_after_its_last_event_ends_cleanly(
    tmp_path: Path, fmt: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The client waits for the end of the body; the upstream sent everything but keeps its
    stream open: at the idle limit the client's body simply ends, with no error after it."""
    async with copilot_rig(tmp_path, _config()) as rig:
        events = await _read_to_terminal(rig.url, fmt)
        rig.sim.state.faults.hold_after_events = events - 1  # less the simulator's comment
        with trio.fail_after(IDLE + MARGIN):
            response = await call(rig.url, fmt, MODELS[fmt], True)
        _, second = await rig.records.wait(2)
    assert response.status_code == 200
    last_event = response.text.rstrip().rsplit("\n\n", 1)[-1]
    assert TERMINAL[fmt].decode() in last_event, repr(response.text[-400:])
    assert '"error"' not in response.text, response.text[-300:]
    assert second.outcome == "ok", second
