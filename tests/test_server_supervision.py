"""How a request's upstream work is supervised: drain expiry through the gateway's registry
of live work (no task per request), the work scope's deadlines, and no registry leaks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
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
    sse_events,
    streamed_messages,
)

from aiclient_trio import ir
from aiclient_trio.config.types import Config, ServerConfig, UpstreamConfig
from aiclient_trio.errors import UpstreamError
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import ModelInfo, RequestContext
from aiclient_trio.server.app import create_app

TIMEOUT = 10


class LateFirstByte(FakeProvider):
    """Answers once everything else waits, like an upstream over a network."""

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        await trio.testing.wait_all_tasks_blocked()
        async with super().open_stream(request, model, ctx) as events:
            yield events


class Work:
    def __init__(self) -> None:
        self.drained = 0

    def drain(self) -> None:
        self.drained += 1


def test_expire_drain_cancels_live_work_and_any_that_registers_later() -> None:
    gateway = make_gateway()
    running, finished, late = Work(), Work(), Work()
    gateway.add_work(running)
    gateway.add_work(finished)
    gateway.discard_work(finished)
    assert running.drained == 0
    gateway.expire_drain()
    assert gateway.drain_expired.is_set()
    assert (running.drained, finished.drained) == (1, 0)
    gateway.add_work(late)
    assert late.drained == 1
    gateway.discard_work(running)
    gateway.discard_work(late)
    assert not gateway.live_work


async def test_a_request_arriving_after_the_drain_expired_gets_the_shutdown_error() -> None:
    provider = FakeProvider("copilot")
    # The upstream would never answer: only the drain can end these requests.
    provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=0)
    gateway = make_gateway(provider)
    records = Records(gateway)
    gateway.expire_drain()
    cases = [
        ("/v1/messages", "messages_request.json", True),
        ("/v1/chat/completions", "chat_request.json", False),
    ]
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            for path, fixture, stream in cases:
                response = await client.post(path, json=load_json(fixture, stream=stream))
                assert response.status_code == 529
                assert response.json()["error"]["message"] == "server shutting down"
            recs = await records.wait(2)
    assert [(r.outcome, r.error_kind) for r in recs] == [("upstream_error", "overloaded")] * 2
    assert all(call.cancelled.is_set() for call in provider.calls)
    assert not gateway.live_work


async def _assert_tracked_until_recorded(gateway: Gateway, records: Records, n: int) -> None:
    await records.wait(n)
    assert not gateway.live_work  # unregistered before the request was recorded


async def test_live_work_is_tracked_while_it_runs_and_never_leaks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = FakeProvider("copilot")
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            ok = await client.post("/v1/messages", json=load_json("messages_request.json"))
            assert sse_events(ok.content)[-1].event == "message_stop"
            await _assert_tracked_until_recorded(gateway, records, 1)

            provider.scripts["fake-model"] = Script(error=UpstreamError("refused", status=400))
            refused = await client.post("/v1/chat/completions", json=load_json("chat_request.json"))
            assert refused.status_code == 400
            await _assert_tracked_until_recorded(gateway, records, 2)

            # The client hangs up mid-stream.
            provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=3)
            stream = await open_raw_post(url, "/v1/messages", load_json("messages_request.json"))
            async with stream:
                await receive_until(stream, b"Hello f")
                assert len(gateway.live_work) == 1
            await provider.calls[-1].cancelled.wait()
            await _assert_tracked_until_recorded(gateway, records, 3)
    assert records.items[-1].outcome == "cancelled"

    # Timed out, before the first byte and mid-stream.
    config = Config(upstream=UpstreamConfig(first_byte_timeout=0.05, idle_timeout=0.05))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            for n, gate_at in enumerate((0, 3), 1):
                provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=gate_at)
                await client.post("/v1/messages", json=load_json("messages_request.json"))
                await _assert_tracked_until_recorded(gateway, records, n)
    assert [r.error_kind for r in records.items] == ["timeout", "timeout"]


async def test_the_idle_timeout_counts_from_the_last_event_not_the_first_byte_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = LateFirstByte("copilot")
    provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=3)
    # A first-byte budget far beyond the test's own deadline: only the idle timeout can fire.
    config = Config(upstream=UpstreamConfig(first_byte_timeout=60.0, idle_timeout=0.05))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with streamed_messages(gateway) as body:
        await body.until(b"Hello f")
        seen = await body.rest()
        rec = (await records.wait(1))[0]
    last = sse_events(bytes(seen))[-1]
    assert last.event == "error"
    assert "sent nothing for 0.05 s" in json.loads(last.data)["error"]["message"]
    assert rec.error_kind == "timeout"
    assert rec.duration >= 0.05  # never cut before the idle timeout


async def test_a_request_waiting_in_the_rate_limit_queue_ends_at_drain_expiry() -> None:
    provider = FakeProvider("copilot")
    # One request a minute: the second waits ~60 s in the queue, unless the drain ends it.
    config = Config(server=ServerConfig(rate_limit_rpm=1, rate_limit_queue=4))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            first = await client.post("/v1/chat/completions", json=load_json("chat_request.json"))
            assert first.status_code == 200
            limiter = next(iter(gateway.reliability.limiters.values()))
            answer: list[httpx.Response] = []

            async def queued() -> None:
                body = load_json("chat_request.json")
                answer.append(await client.post("/v1/chat/completions", json=body))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(queued)
                while not limiter.waiters:
                    await trio.testing.wait_all_tasks_blocked()
                assert len(gateway.live_work) == 1  # the queued request is drainable
                gateway.expire_drain()
            recs = await records.wait(2)
    assert answer[0].status_code == 529
    assert answer[0].json()["error"]["message"] == "server shutting down"
    assert len(provider.calls) == 1  # the queued request never reached the upstream
    assert recs[1].error_kind == "overloaded"
    assert not gateway.live_work and not limiter.waiters
