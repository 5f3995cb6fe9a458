"""The stream relay's supervision and write coalescing together: how a stream ends
when something happens after (or while) its events are held, paced or already delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio
import trio.testing
from fakes import (
    FakeProvider,
    Records,
    Script,
    load_bytes,
    load_json,
    make_gateway,
    open_raw_post,
    receive_until,
    serve,
    sse_events,
    streamed_messages,
    text_events,
)

from aiclient_trio import ir
from aiclient_trio.config.types import Config, ServerConfig
from aiclient_trio.errors import UpstreamError
from aiclient_trio.providers.base import ModelInfo, RequestContext
from aiclient_trio.server.app import create_app

TIMEOUT = 10


def _passthrough(script: Script, model: str = "fake-model") -> FakeProvider:
    provider = FakeProvider("copilot", (model,), passthrough_formats=("anthropic",))
    provider.scripts[model] = script
    return provider


class OneRead(FakeProvider):
    """A translated upstream whose scripted events all arrive in one read: it awaits
    ctx.before_read first, like the real providers before each upstream read."""

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        async with super().open_stream(request, model, ctx) as events:

            async def read() -> AsyncIterator[ir.StreamEvent]:
                try:
                    if ctx.before_read is not None:
                        await ctx.before_read()
                    async for event in events:
                        yield event
                finally:
                    await events.aclose()  # type: ignore[attr-defined]

            yield read()


async def test_drain_expiry_after_a_delivered_passthrough_message_ends_it_cleanly() -> None:
    """The upstream sent the whole message but keeps its stream open when the drain expires:
    the client already has message_stop, so its body just ends (no error event after it,
    which the Anthropic SDK would raise) and the request is recorded as served."""
    upstream = load_bytes("anthropic_upstream.sse")
    provider = _passthrough(Script(chunks=[upstream, b""], gate=trio.Event(), gate_at=1))
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with streamed_messages(gateway) as body:
        await body.until(b"event: message_stop")
        gateway.expire_drain()
        seen = await body.rest()
        rec = (await records.wait(1))[0]
    assert sse_events(bytes(seen))[-1].event == "message_stop"
    assert b"event: error" not in seen
    assert (rec.outcome, rec.error_kind) == ("ok", None)
    assert rec.usage is not None and rec.usage.output_tokens == 9


async def test_an_upstream_failing_after_a_delivered_passthrough_message_ends_it_cleanly() -> None:
    """The upstream's connection breaks after the whole message went out: no error event
    after message_stop, and the request was served."""
    upstream = load_bytes("anthropic_upstream.sse")
    provider = _passthrough(Script(chunks=[upstream, b""], fail_after=1))
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            response = await client.post("/v1/messages", json=load_json("messages_request.json"))
            rec = (await records.wait(1))[0]
    assert response.content == upstream
    assert (rec.outcome, rec.error_kind) == ("ok", None)


async def test_bytes_held_by_a_failed_translated_target_never_reach_a_passthrough_fallback() -> (
    None
):
    """The first target's stream rendered its start and some text (held until its next
    read), then failed before anything went out: the passthrough fallback relays its own
    bytes only, not the failed target's held events in front of them."""
    kiro = OneRead("kiro", ("b",))
    kiro.scripts["b"] = Script(
        events=[*text_events("stale kiro text")[:3], ir.StreamError(UpstreamError("throttled"))]
    )
    upstream = load_bytes("anthropic_upstream.sse")
    copilot = _passthrough(Script(chunks=[upstream]), model="a")
    config = Config(aliases={"best": ("kiro/b", "copilot/a")})
    gateway = make_gateway(kiro, copilot, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            body = load_json("messages_request.json", model="best")
            response = await client.post("/v1/messages", json=body)
            rec = (await records.wait(1))[0]
    assert rec.fallback_from == ("kiro/b",) and rec.provider == "copilot"
    assert response.content == upstream


async def test_an_empty_passthrough_stream_is_a_clean_error() -> None:
    """The upstream answered 200 event-stream and closed without a byte: nothing went out,
    so the client gets a clean error (which a fallback could answer), not an empty 200."""
    provider = _passthrough(Script(chunks=[]))
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            response = await client.post("/v1/messages", json=load_json("messages_request.json"))
            rec = (await records.wait(1))[0]
    assert response.status_code == 502
    assert response.json()["type"] == "error"
    assert (rec.outcome, rec.http_status) == ("upstream_error", 502)


class Reads(FakeProvider):
    """A translated upstream that hands over its scripted events in reads (lists), awaiting
    ctx.before_read before each; `hook_returned` counts the hook calls that came back."""

    def __init__(self, name: str, reads: list[list[ir.StreamEvent]]) -> None:
        super().__init__(name)
        self.reads = reads
        self.hook_calls = self.hook_returned = 0
        self.never = trio.Event()

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        async def events() -> AsyncIterator[ir.StreamEvent]:
            for batch in [*self.reads, None]:
                assert ctx.before_read is not None
                self.hook_calls += 1
                await ctx.before_read()
                self.hook_returned += 1
                if batch is None:
                    await self.never.wait()  # the upstream goes quiet
                    return
                for event in batch:
                    yield event

        yield events()


async def test_drain_expiry_while_a_translated_stream_is_paced_ends_it_with_the_error() -> None:
    """The relay sleeps in pace() (a window far longer than the test) when the drain expires:
    the content already written stays, the shutdown error event follows at once."""
    events = text_events("one two ", chunks=2)  # deltas "one ", "two "
    provider = Reads("copilot", [events[:3], events[3:4]])
    config = Config(server=ServerConfig(stream_coalesce_ms=60_000))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with streamed_messages(gateway) as body:
        await body.until(b"two")
        # The second read's text went out within the window of the first: pacing.
        assert (provider.hook_calls, provider.hook_returned) == (3, 2)
        gateway.expire_drain()
        seen = await body.rest()
        rec = (await records.wait(1))[0]
    last = sse_events(bytes(seen))[-1]
    assert last.event == "error" and "server shutting down" in last.data
    assert (rec.outcome, rec.error_kind) == ("upstream_error", "overloaded")
    assert rec.usage is not None and rec.usage.input_tokens == 11


async def test_a_client_leaving_while_a_translated_stream_is_paced_is_a_cancellation() -> None:
    events = text_events("one two ", chunks=2)  # deltas "one ", "two "
    provider = Reads("copilot", [events[:3], events[3:4]])
    config = Config(server=ServerConfig(stream_coalesce_ms=60_000))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url:
        with trio.fail_after(TIMEOUT):
            stream = await open_raw_post(url, "/v1/messages", load_json("messages_request.json"))
            async with stream:
                await receive_until(stream, b"two")
                assert (provider.hook_calls, provider.hook_returned) == (3, 2)  # in pace()
            rec = (await records.wait(1))[0]
    assert (rec.outcome, rec.error_kind) == ("cancelled", None)
    assert provider.hook_returned == 2 and not gateway.live_work
