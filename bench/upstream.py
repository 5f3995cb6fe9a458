# Fixed-response upstream for the benchmarks: raw asyncio HTTP/1.1 (no framework), so it costs
# as little CPU as possible and every target (daemon, null proxy, peers) sees the same upstream.
"""Serves what the daemon's Copilot and Kiro providers call, with canned answers:

- GET  /models, /ListAvailableModels, /getUsageLimits: the simulators' model lists;
- POST /chat/completions, /v1/messages: a fixed JSON answer, or an SSE stream if the body has
  `"stream": true`;
- POST /generateAssistantResponse: a Kiro event-stream answer;
- GET  /_bench/closed: {stream id: monotonic time the stream's connection was closed}.

A stream's shape comes from a `bench:EVENTS:INTERVAL_US:ID` marker anywhere in the request body
(default 3 events, no pause). `python bench/upstream.py` prints the port on stdout.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

MARKER = re.compile(rb"bench:(\d+):(\d+):([A-Za-z0-9_-]+)")
CLOSED: dict[str, float] = {}

CHAT_JSON = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()

MESSAGES_JSON = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4.5",
        "content": [{"type": "text", "text": "Hello from the bench upstream."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }
).encode()


def _chat_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


CHAT_FIRST = _chat_chunk({"role": "assistant", "content": ""})
CHAT_TOKEN = _chat_chunk({"content": "tok "})
CHAT_LAST = (
    _chat_chunk({}, "stop")
    + b"data: "
    + json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o",
            "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        },
        separators=(",", ":"),
    ).encode()
    + b"\n\ndata: [DONE]\n\n"
)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":")).encode()
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


MSG_FIRST = _sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4.5",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    },
) + _sse(
    "content_block_start",
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
)
MSG_TOKEN = _sse(
    "content_block_delta",
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}},
)
MSG_LAST = (
    _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    + _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 7},
        },
    )
    + _sse("message_stop", {"type": "message_stop"})
)


def _kiro_frames() -> tuple[bytes, bytes, bytes]:
    from aiclient_trio.simulator.kiro_eventstream import encode_event

    first = encode_event("messageMetadataEvent", {"conversationId": "c", "utteranceId": "u1"})
    token = encode_event("assistantResponseEvent", {"content": "tok "})
    usage = {
        "uncachedInputTokens": 12,
        "outputTokens": 7,
        "totalTokens": 19,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }
    last = (
        encode_event("contextUsageEvent", {"contextUsagePercentage": 0.01})
        + encode_event("metadataEvent", {"tokenUsage": usage})
        + encode_event("metadataEvent", {"stopReason": "END_TURN"})
    )
    return first, token, last


def _static_json() -> dict[bytes, bytes]:
    from aiclient_trio.simulator.copilot import SIM_MODELS
    from aiclient_trio.simulator.kiro import KiroSimulator
    from aiclient_trio.simulator.kiro_hosts import usage_limits_answer
    from aiclient_trio.simulator.kiro_models import list_models_answer

    kiro = KiroSimulator()
    usage = usage_limits_answer(kiro.credits_used, kiro.credit_limit)[1]
    return {
        b"/models": json.dumps({"object": "list", "data": SIM_MODELS}).encode(),
        b"/ListAvailableModels": json.dumps(list_models_answer(kiro.models)).encode(),
        b"/getUsageLimits": json.dumps(usage).encode(),
    }


STATIC: dict[bytes, bytes] = {}
KIRO: tuple[bytes, bytes, bytes] = (b"", b"", b"")


def _head(status: str, ctype: bytes, length: int | None) -> bytes:
    size = b"content-length: %d\r\n" % length if length is not None else b""
    framing = size or b"transfer-encoding: chunked\r\n"
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + ctype + b"\r\n" + framing + b"\r\n"
    )


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.stream_id: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream_id is not None:
            CLOSED[self.stream_id] = time.monotonic()
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).split(b"\r\n")
            method, target = lines[0].split(b" ")[:2]
            lines = [line.lower() for line in lines]
            length = 0
            chunked = False
            for line in lines[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
                elif line.startswith(b"transfer-encoding:") and b"chunked" in line:
                    chunked = True
                elif line.startswith(b"connection:") and b"close" in line:
                    self.close_after = True
            start = end + 4
            if chunked:
                parsed = _dechunk(self.buf, start)
                if parsed is None:
                    return
                body, consumed = parsed
            else:
                if len(self.buf) < start + length:
                    return
                body, consumed = bytes(self.buf[start : start + length]), start + length
            del self.buf[:consumed]
            self._respond(method, target.split(b"?")[0], body)
            if self.close_after and not self.busy and self.transport is not None:
                self.transport.close()
                return

    def _respond(self, method: bytes, path: bytes, body: bytes) -> None:
        t = self.transport
        assert t is not None
        if method == b"GET":
            if path == b"/_bench/closed":
                data = json.dumps(CLOSED).encode()
                CLOSED.clear()
            else:
                data = STATIC.get(path, b"{}")
            t.write(_head("200 OK", b"application/json", len(data)) + data)
            return
        stream = b'"stream":true' in body or b'"stream": true' in body
        kiro = path.endswith(b"generateAssistantResponse") or path == b"/"
        if not stream and not kiro:
            data = MESSAGES_JSON if path.endswith(b"/messages") else CHAT_JSON
            t.write(_head("200 OK", b"application/json", len(data)) + data)
            return
        events, interval, stream_id = 3, 0, None
        found = MARKER.search(body)
        if found:
            events, interval = int(found.group(1)), int(found.group(2))
            stream_id = found.group(3).decode()
        if kiro:
            ctype, parts = b"application/vnd.amazon.eventstream", KIRO
        elif path.endswith(b"/messages"):
            ctype, parts = b"text/event-stream", (MSG_FIRST, MSG_TOKEN, MSG_LAST)
        else:
            ctype, parts = b"text/event-stream", (CHAT_FIRST, CHAT_TOKEN, CHAT_LAST)
        self.stream_id = stream_id
        t.write(_head("200 OK", ctype, None))
        if interval == 0 and events <= 64:
            t.write(_chunk(parts[0] + parts[1] * events + parts[2]) + b"0\r\n\r\n")
            self.stream_id = None
            return
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._paced(parts, events, interval))

    async def _paced(self, parts: tuple[bytes, bytes, bytes], events: int, interval: int) -> None:
        t = self.transport
        assert t is not None
        delay = interval / 1e6
        t.write(_chunk(parts[0]))
        for _ in range(events):
            if delay:
                await asyncio.sleep(delay)
            if t.is_closing():
                return
            t.write(_chunk(parts[1]))
            if not delay:
                await asyncio.sleep(0)
        t.write(_chunk(parts[2]) + b"0\r\n\r\n")
        self.stream_id = None
        self.task = None
        self.busy = False
        if self.close_after:
            t.close()
            return
        self._process()


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
        if size == 0:
            return bytes(out), pos


async def main() -> None:
    global STATIC, KIRO
    STATIC = _static_json()
    KIRO = _kiro_frames()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Conn, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
