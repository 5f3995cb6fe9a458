"""Review of the stream relay's supervision and write coalescing together: how a stream ends
when something happens after (or while) its events are held, paced or already delivered."""

from __future__ import annotations

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
    serve,
    sse_events,
)

from aiclient_trio.server.app import create_app

TIMEOUT = 10


def _passthrough(script: Script) -> FakeProvider:
    provider = FakeProvider("copilot", passthrough_formats=("anthropic",))
    provider.scripts["fake-model"] = script
    return provider


async def test_drain_expiry_after_a_delivered_passthrough_message_ends_it_cleanly() -> None:
    """The upstream sent the whole message but keeps its stream open when the drain expires:
    the client already has message_stop, so its body just ends (no error event after it,
    which the Anthropic SDK would raise) and the request is recorded as served."""
    upstream = load_bytes("anthropic_upstream.sse")
    provider = _passthrough(Script(chunks=[upstream, b""], gate=trio.Event(), gate_at=1))
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            async with client.stream(
                "POST", "/v1/messages", json=load_json("messages_request.json")
            ) as response:
                chunks = response.aiter_raw()
                seen = bytearray()
                while b"event: message_stop" not in seen:
                    seen += await chunks.__anext__()
                gateway.expire_drain()
                async for chunk in chunks:
                    seen += chunk
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
