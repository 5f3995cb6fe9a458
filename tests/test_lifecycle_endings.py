"""Request endings through the running server, one per `lifecycle.Ending` that the older
suites reached only by setting flags: each is rendered once, in the client's format, and
recorded once."""

from __future__ import annotations

import httpx
import openai
import pytest
import trio
from fakes import (
    FakeProvider,
    Records,
    Script,
    StreamedBody,
    load_json,
    make_gateway,
    serve,
    sse_events,
    text_events,
)

from aiclient_trio import ir
from aiclient_trio.config.types import Config
from aiclient_trio.errors import UpstreamError
from aiclient_trio.server.app import create_app

TIMEOUT = 10


async def test_drain_expiry_before_the_first_byte_is_a_clean_529_for_the_openai_sdk() -> None:
    """Ending.DRAINED with nothing sent: a whole JSON error in the OpenAI shape (not a
    stream event), which the official SDK raises as a 529 (overloaded) naming the shutdown."""
    gate = trio.Event()
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(gate=gate, gate_at=0)
    gateway = make_gateway(provider)
    records = Records(gateway)
    failures: list[openai.APIStatusError] = []
    async with (
        serve(create_app(gateway)) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client,
    ):

        async def ask() -> None:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(
                    model="fake-model", messages=[{"role": "user", "content": "hi"}]
                )
            failures.append(caught.value)

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                await provider.call_made.wait_value(lambda n: n >= 1)
                await provider.calls[0].started.wait()
                gateway.expire_drain()
            rec = (await records.wait(1))[0]
    assert not gate.is_set()  # the upstream never answered: the drain ended it
    [failure] = failures
    assert failure.status_code == 529
    assert "server shutting down" in failure.message
    assert (rec.outcome, rec.error_kind, rec.http_status) == ("upstream_error", "overloaded", 529)
    assert rec.time_to_first_byte is not None  # the error response is the first byte
    assert provider.calls[0].cancelled.is_set()
    assert not gateway.live_work


async def test_a_target_failing_after_its_first_byte_is_not_fallen_back_from() -> None:
    """Ending.FAILED_AFTER_FIRST_BYTE: the text already went out, so the next target of the
    chain is never tried (the fall_back transition is refused once a byte went out); the
    client's stream ends with one error event and the row names no fallback."""
    gate = trio.Event()
    first = FakeProvider("copilot", ("a",))
    broken = [*text_events(model="a")[:3], ir.StreamError(UpstreamError("upstream broke"))]
    first.scripts["a"] = Script(events=broken, gate=gate, gate_at=3)
    second = FakeProvider("kiro", ("b",))
    config = Config(aliases={"best": ("copilot/a", "kiro/b")})
    gateway = make_gateway(first, second, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            async with client.stream(
                "POST", "/v1/messages", json=load_json("messages_request.json", model="best")
            ) as response:
                body = StreamedBody(response)
                await body.until(b"Hello f")
                gate.set()
                seen = await body.rest()
            rec = (await records.wait(1))[0]
    events = sse_events(bytes(seen))
    assert [e.event for e in events].count("error") == 1
    assert events[-1].event == "error" and "upstream broke" in events[-1].data
    assert second.calls == []
    assert (rec.provider, rec.fallback_from) == ("copilot", ())
    assert (rec.outcome, rec.http_status) == ("upstream_error", 200)
