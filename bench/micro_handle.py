# In-process microbenchmark of the server app (`server.app.create_app`, called as hypercorn
# calls it) with a fake provider (no sockets): CPU per request of our own server code and the
# web framework under it, non-stream and a short stream, medians of passes.
"""Run by hand, not part of the test suite:

    PYTHONPATH=. python bench/micro_handle.py                     # this tree
    PYTHONPATH=. python bench/micro_handle.py --against /work/main  # before/after, interleaved

Each pass runs in a fresh child process (`--child`, PYTHONPATH = the tree measured) and
reports `time.process_time()` per request over `--requests` sequential requests after a
warm-up; with `--against` the two trees alternate pass by pass (order swapped every pass).
Both cases use the passthrough route (`/v1/chat/completions`, bytes relayed), as the daemon
benchmark's hot path does: a JSON answer, and a stream of `--events` SSE events (default 10).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

STREAM_EVENTS = 10
_BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "say hi"}]}
_ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


def _sse_chunks(events: int) -> list[bytes]:
    chunks = []
    for i in range(events):
        delta = {"choices": [{"index": 0, "delta": {"content": f"tok{i} "}}]}
        chunks.append(b"data: " + json.dumps(delta).encode() + b"\n\n")
    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    chunks.append(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")
    return chunks


def _child(requests: int, events: int) -> dict[str, float]:
    import trio
    from trio_util import AsyncValue

    from aiclient_trio import ir
    from aiclient_trio.config.types import Config
    from aiclient_trio.gateway import Gateway
    from aiclient_trio.providers.base import (
        ModelInfo,
        PassthroughResponse,
        Provider,
        ProviderState,
        RequestContext,
    )
    from aiclient_trio.server.app import create_app

    sse = _sse_chunks(events)

    class Upstream(Provider):
        name = "copilot"

        def __init__(self) -> None:
            super().__init__()
            self.model = ModelInfo(
                id="fake-model",
                provider="copilot",
                display_name="Fake",
                context_window=128_000,
                max_output_tokens=16_000,
                upstream_formats=("openai_chat",),
            )
            self.set_status(ProviderState.READY, None, None)

        async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()

        def models(self) -> Sequence[ModelInfo]:
            return [self.model]

        def passthrough(self, model: ModelInfo, inbound: ir.WireFormat) -> bool:
            return True

        def open_stream(self, *args: Any) -> Any:
            raise NotImplementedError

        @asynccontextmanager
        async def open_passthrough(
            self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
        ) -> AsyncIterator[PassthroughResponse]:
            await trio.lowlevel.checkpoint()  # the upstream's answer arrives
            stream = bool(body.get("stream"))

            async def chunks() -> AsyncIterator[bytes]:
                for chunk in sse if stream else [_ANSWER]:
                    await trio.lowlevel.checkpoint()  # each chunk is a socket read
                    yield chunk

            content_type = "text/event-stream" if stream else "application/json"
            yield PassthroughResponse(200, content_type, chunks())

    gateway = Gateway(config=AsyncValue(Config()))
    gateway.providers["copilot"] = Upstream()
    raw = {False: json.dumps(_BODY).encode(), True: json.dumps({**_BODY, "stream": True}).encode()}
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"user-agent", b"bench"),
    ]

    app = create_app(gateway)

    async def one(stream: bool) -> None:
        # The whole app, as hypercorn's trio worker calls it: the scope keys it always sends,
        # the body in one message, then `http.disconnect` once the response has ended.
        body = [{"type": "http.request", "body": raw[stream], "more_body": False}]
        ended = trio.Event()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8080),
        }

        async def receive() -> dict[str, Any]:
            if body:
                return body.pop()
            await ended.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"the fake request failed: {message['status']}")
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended.set()
            await trio.lowlevel.checkpoint()  # a socket write

        await app(scope, receive, send)

    async def timed(stream: bool, n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            await one(stream)
        return (time.process_time() - start) / n * 1e6

    async def main() -> dict[str, float]:
        await timed(False, 200)
        await timed(True, 200)
        return {
            "non_stream_us": await timed(False, requests),
            "stream_us": await timed(True, requests),
        }

    return trio.run(main)


def _pass(tree: str, requests: int, events: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--requests", str(requests), "--events", str(events)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000, help="requests per case and pass")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--events", type=int, default=STREAM_EVENTS, help="SSE events per stream")
    parser.add_argument("--against", help="another tree (e.g. main) measured in alternation")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.requests, args.events)))
        return
    here = os.environ.get("PYTHONPATH") or os.path.dirname(os.path.dirname(__file__))
    trees = {"this": os.path.abspath(here)}
    if args.against:
        trees["against"] = os.path.abspath(args.against)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for i in range(args.passes):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            runs[name].append(_pass(trees[name], args.requests, args.events))
    for name, results in runs.items():
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        figures = ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
        print(f"{name:8} {trees[name]}: {figures}  (CPU us/request, median of {args.passes})")


if __name__ == "__main__":
    main()
