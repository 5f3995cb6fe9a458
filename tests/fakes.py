"""A scripted provider and a real-socket server helper for the server tests.

`FakeProvider` yields IR events or relays passthrough bytes from a `Script`, can stall on a
`trio.Event`, fail before or after its first byte, and records every call and cancellation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypercorn.config
import hypercorn.trio
import trio
from trio_util import AsyncValue

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEDecoder, SSEEvent
from aiclient_trio.config.types import Config
from aiclient_trio.errors import GatewayError
from aiclient_trio.gateway import Gateway
from aiclient_trio.ledger import Ledger
from aiclient_trio.providers.base import (
    ModelInfo,
    PassthroughResponse,
    Provider,
    ProviderState,
    RequestContext,
)
from aiclient_trio.record import RequestRecord
from aiclient_trio.server.app import create_app


def text_events(
    text: str = "Hello from fake",
    model: str = "fake-model",
    usage: ir.Usage | None = None,
    chunks: int = 2,
) -> list[ir.StreamEvent]:
    """A complete one-text-block message, the text split into `chunks` deltas."""
    usage = usage or ir.Usage(input_tokens=11, output_tokens=7)
    step = max(1, len(text) // chunks)
    parts = [text[i : i + step] for i in range(0, len(text), step)]
    return [
        ir.MessageStart(id="msg_fake", model=model, usage=ir.Usage(input_tokens=11)),
        ir.BlockStart(0, ir.TextBlock("")),
        *(ir.TextDelta(0, p) for p in parts),
        ir.BlockStop(0),
        ir.MessageDelta("end_turn", usage),
        ir.MessageStop(),
    ]


@dataclass
class Script:
    """What the fake answers for one model."""

    events: list[ir.StreamEvent] = field(default_factory=text_events)
    # Raised from __aenter__ (before any byte).
    error: GatewayError | None = None
    # Before yielding event/chunk number `gate_at`, wait for `gate` (a slow upstream).
    gate: trio.Event | None = None
    gate_at: int = 1
    # Passthrough: relayed bytes; `fail_after` chunks then the upstream dies.
    chunks: list[bytes] = field(default_factory=list)
    content_type: str = "text/event-stream"
    status: int = 200
    fail_after: int | None = None


@dataclass
class Call:
    kind: str  # "stream" | "passthrough" | "embeddings"
    model: ModelInfo
    ctx: RequestContext
    request: ir.Request | None = None
    body: dict[str, Any] | None = None
    started: trio.Event = field(default_factory=trio.Event)
    cancelled: trio.Event = field(default_factory=trio.Event)
    closed: trio.Event = field(default_factory=trio.Event)


class FakeProvider(Provider):
    def __init__(
        self,
        name: str,
        model_ids: Sequence[str] = ("fake-model",),
        *,
        ready: bool = True,
        passthrough_formats: tuple[ir.WireFormat, ...] = (),
    ) -> None:
        super().__init__()
        self.name = name
        self._models = [
            ModelInfo(
                id=m,
                provider=name,
                display_name=m.title(),
                context_window=128_000,
                max_output_tokens=16_000,
                upstream_formats=passthrough_formats,
                kind="embeddings" if "embed" in m else "chat",
            )
            for m in model_ids
        ]
        self.passthrough_formats = passthrough_formats
        self.scripts: dict[str, Script] = {}
        self.calls: list[Call] = []
        self.call_made: AsyncValue[int] = AsyncValue(0)
        self.set_status(
            ProviderState.READY if ready else ProviderState.UNAUTHENTICATED,
            None if ready else "signed out",
            None if ready else f"aiclient auth {name}",
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def models(self) -> Sequence[ModelInfo]:
        return self._models

    def passthrough(self, model: ModelInfo, inbound: ir.WireFormat) -> bool:
        return inbound in self.passthrough_formats

    def _record(self, call: Call) -> Call:
        self.calls.append(call)
        self.call_made.value += 1
        return call

    def script(self, model: ModelInfo) -> Script:
        return self.scripts.get(model.id) or Script(events=text_events(model=model.id))

    @asynccontextmanager
    async def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        call = self._record(Call("stream", model, ctx, request=request))
        script = self.script(model)
        ctx.upstream_model = model.id
        ctx.initiator = "user"
        call.started.set()
        if script.error is not None:
            raise script.error

        async def events() -> AsyncIterator[ir.StreamEvent]:
            for i, event in enumerate(script.events):
                if script.gate is not None and i == script.gate_at:
                    await script.gate.wait()
                yield event

        try:
            yield events()
        except trio.Cancelled:
            call.cancelled.set()
            raise
        finally:
            call.closed.set()

    @asynccontextmanager
    async def open_passthrough(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[PassthroughResponse]:
        call = self._record(Call("passthrough", model, ctx, body=body))
        script = self.script(model)
        ctx.upstream_model = model.id
        call.started.set()
        if script.error is not None:
            raise script.error

        async def chunks() -> AsyncIterator[bytes]:
            for i, chunk in enumerate(script.chunks):
                if script.fail_after is not None and i == script.fail_after:
                    raise GatewayError("upstream connection reset", status=502)
                if script.gate is not None and i == script.gate_at:
                    await script.gate.wait()
                yield chunk

        try:
            yield PassthroughResponse(script.status, script.content_type, chunks())
        except trio.Cancelled:
            call.cancelled.set()
            raise
        finally:
            call.closed.set()

    async def embeddings(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> dict[str, Any]:
        self._record(Call("embeddings", model, ctx, body=body))
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.5, -0.25, 0.125]}
                for i in range(count)
            ],
            "model": model.id,
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }


def make_gateway(*providers: Provider, config: Config | None = None) -> Gateway:
    gateway = Gateway(config=AsyncValue(config or Config()))
    for provider in providers:
        gateway.providers[provider.name] = provider
    return gateway


async def start_ledger(nursery: trio.Nursery, gateway: Gateway, path: Path) -> Ledger:
    """A running ledger at `path` that the gateway's /v1/usage reads (rows come from
    `gateway.observers` only if the test adds `ledger.record`)."""
    ledger = Ledger(path)
    gateway.ledger = ledger
    await nursery.start(ledger.run)
    return ledger


class Records:
    """Collects `RequestRecord`s; `wait(n)` until n arrived."""

    def __init__(self, gateway: Gateway) -> None:
        self.items: list[RequestRecord] = []
        self.count: AsyncValue[int] = AsyncValue(0)
        gateway.observers.append(self._add)

    def _add(self, rec: RequestRecord) -> None:
        self.items.append(rec)
        self.count.value += 1

    async def wait(self, n: int = 1) -> list[RequestRecord]:
        await self.count.wait_value(lambda v: v >= n)
        return self.items


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` with hypercorn's trio worker on 127.0.0.1:0; yields the base URL."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(hypercorn.trio.serve, app, config)
        try:
            yield urls[0]
        finally:
            nursery.cancel_scope.cancel()


DATA = Path(__file__).parent / "data" / "server"


def load_json(name: str, **changes: Any) -> dict[str, Any]:
    """A request fixture from tests/data/server, with top-level keys replaced."""
    body: dict[str, Any] = json.loads((DATA / name).read_text())
    body.update(changes)
    return body


def load_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def sse_events(data: bytes | str) -> list[SSEEvent]:
    """Every complete SSE event in `data` (a whole stream)."""
    decoder = SSEDecoder()
    raw = data.encode() if isinstance(data, str) else data
    return [*decoder.feed(raw), *decoder.close()]


async def open_raw_post(url: str, path: str, body: dict[str, Any]) -> trio.SocketStream:
    """Send a POST over a bare socket (no client library), to disconnect at will."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode()
    try:
        await stream.send_all(head + payload)
    except BaseException:
        await trio.aclose_forcefully(stream)  # a failed send leaves no socket behind
        raise
    return stream


async def receive_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    seen = bytearray()
    while marker not in seen:
        data = await stream.receive_some()
        if not data:
            raise AssertionError(f"connection closed before {marker!r}: {bytes(seen)!r}")
        seen += data
    return bytes(seen)


class StreamedBody:
    """A streamed response body read in steps: up to a marker, then to its end."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_raw()
        self.seen = bytearray()

    async def until(self, marker: bytes) -> None:
        while marker not in self.seen:
            self.seen += await self._chunks.__anext__()

    async def rest(self) -> bytes:
        async for chunk in self._chunks:
            self.seen += chunk
        return bytes(self.seen)


@asynccontextmanager
async def streamed_messages(
    gateway: Gateway, *, timeout: float = 10
) -> AsyncIterator[StreamedBody]:
    """Serve `gateway`, POST messages_request.json to /v1/messages and yield the streamed
    body. Everything in the block runs under `trio.fail_after(timeout)`: a guard that ends a
    hang, not a time limit the test is about."""
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        with trio.fail_after(timeout):
            async with client.stream(
                "POST", "/v1/messages", json=load_json("messages_request.json")
            ) as response:
                yield StreamedBody(response)
