"""Hot API routes over real sockets with a scripted provider: streaming, passthrough,
errors before and after the first byte, disconnects, drain, fallback and keep-alive."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

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
from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.errors import Overloaded, RateLimited, UpstreamError
from aiclient_trio.server.app import create_app

TIMEOUT = 10


async def _read_until(chunks: AsyncIterator[bytes], marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        seen += await chunks.__anext__()


async def test_streams_are_flushed_per_event_in_every_format() -> None:
    cases = [
        ("/v1/messages", "messages_request.json", b"Hello f", "message_stop"),
        ("/v1/chat/completions", "chat_request.json", b"Hello f", None),
        ("/v1/responses", "responses_request.json", b"Hello f", "response.completed"),
    ]
    provider = FakeProvider("copilot")
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        for n, (path, fixture, marker, last_event) in enumerate(cases, 1):
            gate = trio.Event()
            provider.scripts["fake-model"] = Script(gate=gate, gate_at=3)
            with trio.fail_after(TIMEOUT):
                async with client.stream("POST", path, json=load_json(fixture)) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    chunks = response.aiter_raw()
                    seen = bytearray()
                    # The first delta arrives while the upstream is still stalled.
                    await _read_until(chunks, marker, seen)
                    assert gateway.active_requests.value == 1
                    gate.set()
                    async for chunk in chunks:
                        seen += chunk
            events = sse_events(bytes(seen))
            if last_event is None:
                assert events[-1].data == "[DONE]"
                usage_chunk = json.loads(events[-2].data)
                assert usage_chunk["usage"]["completion_tokens"] == 7
            else:
                assert events[-1].event == last_event
            rec = (await records.wait(n))[-1]
            assert rec.outcome == "ok" and rec.stream and rec.http_status == 200
            assert rec.usage == ir.Usage(input_tokens=11, output_tokens=7)
            assert rec.provider == "copilot" and rec.initiator == "user"
            assert rec.time_to_first_byte is not None and rec.time_to_first_byte <= rec.duration
        assert gateway.active_requests.value == 0


async def test_non_stream_answers_and_request_ids() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        body = load_json("messages_request.json", stream=False)
        msg = await client.post("/messages?beta=true", json=body, headers={"x-request-id": "cc-1"})
        assert msg.status_code == 200
        assert msg.json()["content"] == [{"type": "text", "text": "Hello from fake"}]
        assert msg.headers["x-request-id"] == msg.headers["request-id"] == "cc-1"

        chat = await client.post(
            "//v1//chat/completions", json=load_json("chat_request.json", stream=False)
        )
        assert chat.json()["choices"][0]["message"]["content"] == "Hello from fake"
        assert chat.headers["x-request-id"].startswith("req_")
        assert "request-id" not in chat.headers

        resp = await client.post(
            "/v1/responses", json=load_json("responses_request.json", stream=False)
        )
        assert resp.json()["status"] == "completed"
        assert resp.json()["output"][0]["content"][0]["text"] == "Hello from fake"


async def test_output_format_override_both_ways_turns_passthrough_off() -> None:
    provider = FakeProvider("copilot", passthrough_formats=("anthropic", "openai_chat"))
    gateway = make_gateway(provider)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        as_openai = await client.post(
            "/v1/messages",
            json=load_json("messages_request.json"),
            headers={"x-output-format": "openai"},
        )
        events = sse_events(as_openai.content)
        assert json.loads(events[0].data)["object"] == "chat.completion.chunk"
        assert events[-1].data == "[DONE]"
        assert as_openai.headers["request-id"]  # still an Anthropic route

        as_anthropic = await client.post(
            "/v1/chat/completions",
            json=load_json("chat_request.json"),
            headers={"x-output-format": "anthropic"},
        )
        names = [e.event for e in sse_events(as_anthropic.content)]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        assert [c.kind for c in provider.calls] == ["stream", "stream"]

        bad = await client.post(
            "/v1/chat/completions",
            json=load_json("chat_request.json"),
            headers={"x-output-format": "xml"},
        )
        assert bad.status_code == 400

    forced = make_gateway(FakeProvider("copilot"), config=Config(output_format="anthropic"))
    async with serve(create_app(forced)) as url, httpx.AsyncClient(base_url=url) as client:
        chat = await client.post(
            "/v1/chat/completions", json=load_json("chat_request.json", stream=False)
        )
        assert chat.json()["type"] == "message"


async def test_passthrough_relays_bytes_unchanged_and_records_usage() -> None:
    upstream = load_bytes("anthropic_upstream.sse")
    # Split at awkward places: inside a JSON string, between CR/LF of a boundary, etc.
    cuts = [0, 7, 150, 151, 400, len(upstream) - 3, len(upstream)]
    chunks = [upstream[a:b] for a, b in itertools.pairwise(cuts)]
    provider = FakeProvider("copilot", passthrough_formats=("anthropic",))
    provider.scripts["fake-model"] = Script(chunks=chunks)
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        body = load_json(
            "messages_request.json", model="copilot/fake-model", extra_field={"kept": True}
        )
        response = await client.post(
            "/v1/messages",
            json=body,
            headers={
                "anthropic-beta": "x-1",
                "x-api-key": "client-secret",
                "authorization": "Bearer t",
            },
        )
        assert response.status_code == 200
        assert response.content == upstream
    call = provider.calls[0]
    assert call.kind == "passthrough"
    assert call.body is not None
    assert call.body["model"] == "fake-model"
    assert call.body["extra_field"] == {"kept": True}
    assert call.ctx.headers["anthropic-beta"] == "x-1"
    assert "authorization" not in call.ctx.headers and "x-api-key" not in call.ctx.headers
    rec = (await records.wait(1))[0]
    assert rec.outcome == "ok"
    assert rec.usage is not None
    assert (rec.usage.input_tokens, rec.usage.output_tokens) == (42, 9)
    assert rec.usage.cache_read_input_tokens == 5
    assert rec.client_model == "copilot/fake-model" and rec.upstream_model == "fake-model"


async def test_passthrough_upstream_dying_mid_stream_ends_with_error_event() -> None:
    upstream = load_bytes("anthropic_upstream.sse")
    parts = upstream.split(b"\n\n")
    chunks = [p + b"\n\n" for p in parts if p]
    provider = FakeProvider("copilot", passthrough_formats=("anthropic",))
    provider.scripts["fake-model"] = Script(chunks=chunks, fail_after=3)
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/v1/messages", json=load_json("messages_request.json"))
    assert response.content.startswith(b"".join(chunks[:3]))
    last = sse_events(response.content)[-1]
    assert last.event == "error"
    assert json.loads(last.data)["type"] == "error"
    rec = (await records.wait(1))[0]
    assert rec.outcome == "upstream_error"


async def test_translated_stream_failure_after_first_byte_is_a_format_error_event() -> None:
    broken = [*text_events()[:3], ir.StreamError(UpstreamError("upstream reset"))]
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(events=broken)
    gateway = make_gateway(provider)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        msg = await client.post("/v1/messages", json=load_json("messages_request.json"))
        last = sse_events(msg.content)[-1]
        assert last.event == "error"
        assert json.loads(last.data)["error"]["type"] == "api_error"

        chat = await client.post("/v1/chat/completions", json=load_json("chat_request.json"))
        frames = [json.loads(e.data) for e in sse_events(chat.content) if e.data != "[DONE]"]
        assert "error" in frames[-1]

        resp = await client.post("/v1/responses", json=load_json("responses_request.json"))
        failed = sse_events(resp.content)[-1]
        assert failed.event == "response.failed"
        assert json.loads(failed.data)["response"]["error"]["message"] == "upstream reset"


async def test_errors_before_first_byte_use_status_and_route_shape() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(error=RateLimited("slow down", retry_after=3))
    gateway = make_gateway(provider, config=Config(upstream=UpstreamConfig(retries=0)))
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        msg = await client.post("/v1/messages", json=load_json("messages_request.json"))
        assert msg.status_code == 429
        assert msg.headers["retry-after"] == "3" and msg.headers["retry-after-ms"] == "3000"
        assert msg.json()["error"] == {"type": "rate_limit_error", "message": "slow down"}
        assert msg.json()["request_id"] == msg.headers["request-id"]

        chat = await client.post("/v1/chat/completions", json=load_json("chat_request.json"))
        assert chat.status_code == 429
        assert chat.json()["error"]["code"] == "rate_limit_exceeded"

        resp = await client.post("/v1/responses", json=load_json("responses_request.json"))
        assert resp.status_code == 429
        assert resp.json()["error"]["type"] == "rate_limit_error"

        # A stream whose very first event is an error has sent nothing: still a status.
        provider.scripts["fake-model"] = Script(events=[ir.StreamError(Overloaded("busy"))])
        busy = await client.post("/v1/messages", json=load_json("messages_request.json"))
        assert busy.status_code == 529
        assert busy.json()["error"]["type"] == "overloaded_error"
    recs = await records.wait(4)
    assert {r.outcome for r in recs} == {"upstream_error"}
    assert recs[0].error_kind == "rate_limit"


async def test_client_disconnect_cancels_the_upstream_call() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=3)
    gateway = make_gateway(provider)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url:
        with trio.fail_after(TIMEOUT):
            stream = await open_raw_post(url, "/v1/messages", load_json("messages_request.json"))
            async with stream:
                head = await receive_until(stream, b"Hello f")
                assert head.startswith(b"HTTP/1.1 200")
            # The client and its connection are gone: the upstream call must be cancelled.
            await provider.calls[0].cancelled.wait()
            await provider.calls[0].closed.wait()
            rec = (await records.wait(1))[0]
    assert rec.outcome == "cancelled"
    assert gateway.active_requests.value == 0


async def test_drain_expired_ends_open_stream_with_error_event() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=3)
    gateway = make_gateway(provider)
    async with streamed_messages(gateway) as body:
        await body.until(b"Hello f")
        gateway.expire_drain()
        seen = await body.rest()
    last = sse_events(bytes(seen))[-1]
    assert last.event == "error"
    assert json.loads(last.data)["error"] == {
        "type": "overloaded_error",
        "message": "server shutting down",
    }
    assert provider.calls[0].cancelled.is_set()


async def test_keep_alive_ping_while_upstream_is_silent() -> None:
    provider = FakeProvider("copilot")
    gate = trio.Event()
    provider.scripts["fake-model"] = Script(gate=gate, gate_at=1)
    gateway = make_gateway(provider)
    app = create_app(gateway)
    app.ping_interval = 0.05
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            async with client.stream(
                "POST", "/v1/messages", json=load_json("messages_request.json")
            ) as r:
                chunks = r.aiter_raw()
                seen = bytearray()
                await _read_until(chunks, b"event: ping", seen)
                gate.set()
                async for chunk in chunks:
                    seen += chunk
    names = [e.event for e in sse_events(bytes(seen))]
    assert names[0] == "message_start" and "ping" in names and names[-1] == "message_stop"


async def test_fallback_chain_before_first_byte_only() -> None:
    copilot = FakeProvider("copilot", ("a",))
    kiro = FakeProvider("kiro", ("b",))
    copilot.scripts["a"] = Script(error=Overloaded("copilot busy"))
    config = Config(aliases={"best": ("copilot/a", "kiro/b")})
    gateway = make_gateway(copilot, kiro, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        ok = await client.post(
            "/v1/messages", json=load_json("messages_request.json", model="best")
        )
        assert ok.status_code == 200
        assert sse_events(ok.content)[-1].event == "message_stop"
        rec = (await records.wait(1))[0]
        assert rec.fallback_from == ("copilot/a",)
        assert rec.provider == "kiro" and rec.upstream_model == "b" and rec.client_model == "best"

        # After the first byte there is no retry: the failure reaches the client.
        copilot.scripts["a"] = Script(
            events=[*text_events()[:3], ir.StreamError(UpstreamError("reset"))]
        )
        broken = await client.post(
            "/v1/messages", json=load_json("messages_request.json", model="best")
        )
        assert sse_events(broken.content)[-1].event == "error"
        assert len(kiro.calls) == 1

        # A client error is not retried elsewhere either.
        copilot.scripts["a"] = Script(error=UpstreamError("bad request", status=400))
        refused = await client.post(
            "/v1/messages", json=load_json("messages_request.json", model="best")
        )
        assert refused.status_code == 400
        assert len(kiro.calls) == 1


async def test_embeddings_and_unready_provider() -> None:
    copilot = FakeProvider("copilot", ("text-embed-3",))
    kiro = FakeProvider("kiro", ready=False)
    gateway = make_gateway(copilot, kiro)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        emb = await client.post("/embeddings", json={"model": "text-embed-3", "input": ["a", "b"]})
        assert emb.status_code == 200
        assert len(emb.json()["data"]) == 2
        assert copilot.calls[0].body == {
            "model": "text-embed-3",
            "input": ["a", "b"],
            "encoding_format": "float",
        }
        missing = await client.post("/v1/embeddings", json={"model": "text-embed-3"})
        assert missing.status_code == 400

        down = await client.post(
            "/v1/messages", json=load_json("messages_request.json", model="kiro/fake-model")
        )
        assert down.status_code == 503
        assert "aiclient auth kiro" in down.json()["error"]["message"]


async def test_first_byte_and_idle_timeouts_cancel_a_silent_upstream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    provider = FakeProvider("copilot")
    config = Config(upstream=UpstreamConfig(first_byte_timeout=0.05, idle_timeout=0.05))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(TIMEOUT):
            provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=0)
            silent = await client.post("/v1/chat/completions", json=load_json("chat_request.json"))
            assert silent.status_code == 504
            assert "within 0.05 s" in silent.json()["error"]["message"]

            provider.scripts["fake-model"] = Script(gate=trio.Event(), gate_at=3)
            stalled = await client.post("/v1/messages", json=load_json("messages_request.json"))
            assert stalled.status_code == 200
            last = sse_events(stalled.content)[-1]
            assert last.event == "error"
            assert "sent nothing for 0.05 s" in json.loads(last.data)["error"]["message"]
    assert all(call.cancelled.is_set() for call in provider.calls)
    recs = await records.wait(2)
    assert [r.error_kind for r in recs] == ["timeout", "timeout"]


async def test_many_concurrent_streams_and_a_failing_observer() -> None:
    provider = FakeProvider("copilot")
    gate = trio.Event()
    provider.scripts["fake-model"] = Script(gate=gate, gate_at=3)
    gateway = make_gateway(provider)

    def broken_observer(_: object) -> None:
        raise RuntimeError("ledger is down")

    records = Records(gateway)
    gateway.observers.append(broken_observer)
    bodies: list[bytes] = []
    async with serve(create_app(gateway)) as url:
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:

            async def one() -> None:
                response = await client.post(
                    "/v1/messages", json=load_json("messages_request.json")
                )
                bodies.append(response.content)

            with trio.fail_after(TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for _ in range(50):
                        nursery.start_soon(one)
                    await gateway.active_requests.wait_value(50)
                    gate.set()
    assert len(bodies) == 50
    assert all(sse_events(b)[-1].event == "message_stop" for b in bodies)
    with trio.fail_after(TIMEOUT):
        assert len(await records.wait(50)) == 50
    assert gateway.active_requests.value == 0
