# CPU per request of each stage of the translated non-stream route (Anthropic in, gpt-4o on
# Copilot's chat/completions), in process, for the benchmark's exact request and canned answers.
"""Run by hand: `PYTHONPATH=. python bench/micro_translate.py [iterations] [--http]`.

Each stage runs on inputs prepared once, so its figure is its own cost; every figure is the
median over interleaved passes of `time.process_time` over the iterations, in microseconds.
The two totals run the whole chain as the daemon does: upstream streamed (SSE parsed into
IR events, gathered by `ResponseBuilder`) or upstream non-stream (one JSON body parsed by
the format's `parse_response`). HTTP client and server costs are not included there;
`--http` adds the provider's whole call through the HTTP client to `bench/upstream.py` (started
here): the old way (`Provider.complete`, the stream gathered) against the Copilot override.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream import CHAT_FIRST, CHAT_JSON, CHAT_LAST, CHAT_TOKEN

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.formats import anthropic, openai_chat
from aiclient_trio.providers.base import ModelInfo
from aiclient_trio.providers.copilot import bodies
from aiclient_trio.providers.copilot.initiator import initiator_for_ir, premium_cost
from aiclient_trio.providers.copilot.models import choose_upstream_format
from aiclient_trio.providers.copilot.sanitize import merge_split_choices, prepare_body
from aiclient_trio.server.http import dumps

# bench/run.py's MESSAGES body, as the client sends it.
CLIENT_BODY = json.dumps(
    {"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
).encode()
# bench/upstream.py answers a stream without a marker with 3 token events, in one write.
CHAT_SSE = CHAT_FIRST + CHAT_TOKEN * 3 + CHAT_LAST
MODEL = ModelInfo(id="gpt-4o", provider="copilot", upstream_formats=("openai_chat",))


def _prepared() -> dict[str, Any]:
    body = json.loads(CLIENT_BODY)
    request = anthropic.parse_request(body).with_model("gpt-4o")
    rendered = openai_chat.render_request(request)
    upstream = prepare_body("openai_chat", rendered, "gpt-4o", 16384)
    events = _sse_events()
    builder = ir.ResponseBuilder()
    for event in events:
        builder.feed(event)
    response = replace(builder.response(), model="gpt-4o")
    return {
        "body": body,
        "request": request,
        "rendered": rendered,
        "upstream": upstream,
        "events": events,
        "response": response,
        "answer": anthropic.render_response(response),
    }


def _sse_events() -> list[ir.StreamEvent]:
    decoder = SSEDecoder()
    parser = openai_chat.StreamParser(model="gpt-4o", input_estimate=20)
    out = [e for sse in decoder.feed(CHAT_SSE) for e in parser.feed(sse)]
    return out + [e for sse in decoder.close() for e in parser.feed(sse)] + parser.close()


def _gather(events: list[ir.StreamEvent]) -> ir.Response:
    builder = ir.ResponseBuilder()
    for event in events:
        builder.feed(event)
    return builder.response()


def _provider_prelude(request: ir.Request, stream: bool) -> dict[str, Any]:
    """What the Copilot provider does before the call: render, adjust, encode (the client's
    encoding of the body, counted here once)."""
    fmt = choose_upstream_format(MODEL, "anthropic")
    rendered = openai_chat.render_request(request.with_model(MODEL.id))
    if stream:
        rendered["stream"] = True
        rendered["stream_options"] = {"include_usage": True}
    upstream = prepare_body(fmt, rendered, MODEL.id, 16384)
    premium_cost(initiator_for_ir(request), MODEL)
    json.dumps(upstream).encode()
    return upstream


def _whole_streamed() -> bytes:
    request = anthropic.parse_request(json.loads(CLIENT_BODY)).with_model("gpt-4o")
    upstream = _provider_prelude(request, stream=True)
    max(1, len(json.dumps(upstream)) // 4)  # the stream parser's input estimate
    response = replace(_gather(_sse_events()), model="gpt-4o")
    return dumps(anthropic.render_response(response))


def _whole_json() -> bytes:
    request = anthropic.parse_request(json.loads(CLIENT_BODY)).with_model("gpt-4o")
    _provider_prelude(request, stream=False)
    response = replace(bodies.chat_response(CHAT_JSON, "gpt-4o", lambda: 1), model="gpt-4o")
    return dumps(anthropic.render_response(response))


def stages() -> dict[str, Callable[[], object]]:
    p = _prepared()
    return {
        "client json.loads": lambda: json.loads(CLIENT_BODY),
        "anthropic.parse_request": lambda: anthropic.parse_request(p["body"]),
        "request.with_model": lambda: p["request"].with_model("gpt-4o"),
        "openai_chat.render_request": lambda: openai_chat.render_request(p["request"]),
        "prepare_body": lambda: prepare_body("openai_chat", p["rendered"], "gpt-4o", 16384),
        "initiator + premium": lambda: premium_cost(initiator_for_ir(p["request"]), MODEL),
        "json.dumps upstream body": lambda: json.dumps(p["upstream"]).encode(),
        "SSE decode + StreamParser": _sse_events,
        "ir_events wrapper (async gen)": _ir_events_overhead,
        "ResponseBuilder": lambda: _gather(p["events"]),
        "upstream JSON loads": lambda: json.loads(CHAT_JSON),
        "merge_split_choices": lambda: merge_split_choices(json.loads(CHAT_JSON)),
        "openai_chat.parse_response": lambda: openai_chat.parse_response(json.loads(CHAT_JSON)),
        "chat_response (loads+merge+parse)": lambda: bodies.chat_response(
            CHAT_JSON, "gpt-4o", lambda: 1
        ),
        "replace(model=)": lambda: replace(p["response"], model="gpt-4o"),
        "anthropic.render_response": lambda: anthropic.render_response(p["response"]),
        "dumps client answer": lambda: dumps(p["answer"]),
        "TOTAL upstream streamed": _whole_streamed,
        "TOTAL upstream non-stream": _whole_json,
    }


def _ir_events_overhead() -> None:
    """The async-generator chain the events pass through, driven without an event loop."""

    async def raw() -> Any:
        yield CHAT_SSE

    parser = openai_chat.StreamParser(model="gpt-4o", input_estimate=20)
    gen = bodies.ir_events(raw(), parser)
    while True:
        try:
            gen.asend(None).send(None)
        except StopIteration:  # the awaitable finished at once: one event yielded
            continue
        except StopAsyncIteration:
            break


def measure(iterations: int, passes: int) -> dict[str, float]:
    table = stages()
    samples: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(passes):
        for name, fn in table.items():  # interleaved: every stage once per pass
            start = time.process_time()
            for _ in range(iterations):
                fn()
            samples[name].append((time.process_time() - start) / iterations * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


class _Tokens:
    """A token manager that always has a token for the bench upstream."""

    def __init__(self, api_url: str) -> None:
        from aiclient_trio.providers.copilot.auth import CopilotToken

        self._token = CopilotToken("bench-token", time.time() + 3600, 3600, 0.0, api_url)

    async def get(self) -> Any:
        return self._token

    async def refresh(self, stale: Any) -> Any:
        return self._token


def measure_http(iterations: int, passes: int) -> dict[str, float]:
    import trio

    from aiclient_trio.config.types import Config
    from aiclient_trio.providers.base import Provider, RequestContext
    from aiclient_trio.providers.copilot import CopilotProvider
    from aiclient_trio.providers.copilot.client import CapiClient

    upstream = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "upstream.py")], stdout=subprocess.PIPE
    )
    assert upstream.stdout is not None
    port = int(upstream.stdout.readline())
    config = Config()
    samples: dict[str, list[float]] = {}

    async def run() -> None:
        provider = CopilotProvider(config)
        tokens: Any = _Tokens(f"http://127.0.0.1:{port}")
        provider._capi = CapiClient(provider.http, config.copilot, tokens)
        request = anthropic.parse_request(json.loads(CLIENT_BODY)).with_model("gpt-4o")
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello."}]}

        async def passthrough(ctx: RequestContext) -> None:
            ctx.inbound_format = "openai_chat"
            async with provider.open_passthrough(chat, MODEL, ctx) as up:
                openai_chat.parse_response(json.loads(b"".join([c async for c in up.body])))

        async def translated(ctx: RequestContext, old: bool) -> None:
            complete = Provider.complete if old else CopilotProvider.complete
            dumps(anthropic.render_response(await complete(provider, request, MODEL, ctx)))

        ways: dict[str, Callable[[RequestContext], Awaitable[None]]] = {
            "HTTP call, stream gathered": lambda ctx: translated(ctx, True),
            "HTTP call, one body": lambda ctx: translated(ctx, False),
            "HTTP call, passthrough (ref.)": passthrough,
        }
        for name in ways:
            samples[name] = []
        for _ in range(passes + 1):  # the first pass warms the connection pool up
            for name, call in ways.items():
                start = time.process_time()
                for _ in range(iterations):
                    await call(RequestContext("bench", "anthropic", "gpt-4o"))
                samples[name].append((time.process_time() - start) / iterations * 1e6)
        await provider.aclose()

    try:
        trio.run(run)
    finally:
        upstream.terminate()
        upstream.wait()
    return {name: statistics.median(values[1:]) for name, values in samples.items()}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    iterations = int(args[0]) if args else 3000
    results = measure(iterations, passes=7)
    if "--http" in sys.argv:
        results.update(measure_http(max(1, iterations // 10), passes=7))
    print(f"CPU per request, us (median of 7 interleaved passes x {iterations})")
    for name, value in results.items():
        print(f"  {name:32s} {value:8.1f}")


if __name__ == "__main__":
    main()
