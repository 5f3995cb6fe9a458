"""Anthropic Messages streams, plus the block, usage and error pieces they share with
the non-stream bodies in `anthropic`.

Anthropic Messages streaming: upstream SSE events -> IR events, IR events -> client SSE. Both
are small state machines fed one event at a time; no I/O, never a silent truncation.

`StreamParser` reads an upstream's `message_start ... message_stop` events into IR events;
`StreamRenderer` writes IR events as the SSE frames the Anthropic SDK and Claude Code read
(every frame has its `event:` line, block indexes are dense from 0, every opened block is
closed before `message_delta`, an error is the last frame).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any, Literal, cast, get_args

from aiclient_trio import ir, untrusted
from aiclient_trio.codecs.sse import SSEEvent, encode_event
from aiclient_trio.errors import (
    ContextLengthExceeded,
    GatewayError,
    Overloaded,
    RateLimited,
    UpstreamError,
    anthropic_error_body,
)

__all__ = [
    "StreamParser",
    "StreamRenderer",
    "error_from_anthropic",
    "parse_output_block",
    "parse_stop_reason",
    "parse_usage",
    "render_block",
    "render_stream_error",
    "render_usage",
]

_STOP_REASONS: frozenset[str] = frozenset(get_args(ir.StopReason))
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _frame(data: dict[str, Any]) -> bytes:
    return encode_event(_dumps(data), event=cast(str, data["type"]))


# --------------------------------------------------------------------------- shared pieces


def render_block(block: ir.Block) -> dict[str, Any]:
    """An assistant content block as Anthropic JSON (complete, as in a `message`)."""
    match block:
        case ir.TextBlock():
            return {"type": "text", "text": block.text}
        case ir.ThinkingBlock():
            # No signature is no claim: an empty one would be sent back as if it were real.
            thinking = {"type": "thinking", "thinking": block.thinking}
            return thinking | ({"signature": block.signature} if block.signature else {})
        case ir.RedactedThinkingBlock():
            return {"type": "redacted_thinking", "data": block.data}
        case ir.ToolUseBlock():
            return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def parse_output_block(item: dict[str, Any]) -> ir.Block | None:
    """An assistant content block; server-tool blocks and unknown types give None."""
    kind = item.get("type")
    if kind == "text":
        return ir.TextBlock(str(item.get("text") or ""))
    if kind == "thinking":
        signature = item.get("signature")
        return ir.ThinkingBlock(
            str(item.get("thinking") or ""),
            signature if isinstance(signature, str) and signature else None,
        )
    if kind == "redacted_thinking":
        return ir.RedactedThinkingBlock(str(item.get("data") or ""))
    if kind == "tool_use":
        tool_input = item.get("input")
        return ir.ToolUseBlock(
            id=str(item.get("id") or ""),
            name=str(item.get("name") or ""),
            input=tool_input if isinstance(tool_input, dict) else {},
        )
    return None


def parse_stop_reason(raw: object) -> ir.StopReason | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw in _STOP_REASONS:
        return cast(ir.StopReason, raw)
    return "end_turn"


def _count(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    return None


def parse_usage(raw: object, base: ir.Usage | None = None) -> ir.Usage:
    """Anthropic usage -> IR; fields absent (or null) keep their value from `base`."""
    usage = base or ir.Usage()
    if not isinstance(raw, dict):
        return usage
    found: dict[str, Any] = {k: v for k in _USAGE_FIELDS if (v := _count(raw, k)) is not None}
    if "input_tokens" in found:
        found["input_estimated"] = False
    if "output_tokens" in found:
        found["output_estimated"] = False
    return replace(usage, **found)


def render_usage(usage: ir.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
    }


def error_from_anthropic(raw: object) -> GatewayError:
    """The `error` member of an Anthropic error body/event -> our error class."""
    error = raw if isinstance(raw, dict) else {}
    kind = error.get("type")
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"upstream error ({kind or 'unknown'})"
    if kind == "overloaded_error":
        return Overloaded(message)
    if kind == "rate_limit_error":
        return RateLimited(message)
    if kind == "invalid_request_error" and "prompt is too long" in message:
        return ContextLengthExceeded(message)
    return UpstreamError(message)


def render_stream_error(error: GatewayError) -> bytes:
    """The terminal `event: error` frame for an Anthropic client."""
    return _frame(anthropic_error_body(error))


# --------------------------------------------------------------------------- parser


class StreamParser:
    """Upstream Anthropic SSE events -> IR events.

    `feed()` each decoded event; `close()` when the upstream body ended. A stream that
    ends before `message_stop` (or an `error` event) yields a final `StreamError`.
    """

    def __init__(self, model: str, input_estimate: int = 0) -> None:
        self.model = model
        self._estimate = max(0, input_estimate)
        self._usage = ir.Usage()
        self._skipped: set[int] = set()  # indexes of blocks the IR has no type for
        self.finished = False

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        if self.finished or not event.data or event.data == "[DONE]":
            return []
        try:
            data = untrusted.loads(event.data)
        except ValueError:
            return self._fail(UpstreamError("the upstream sent invalid JSON in its stream"))
        if not isinstance(data, dict):
            return self._fail(UpstreamError("the upstream sent a non-object stream event"))
        kind = event.event or data.get("type")
        if kind == "message_start":
            return [self._message_start(data.get("message"))]
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_stop":
            index = data.get("index")
            if not isinstance(index, int) or index in self._skipped:
                return []
            return [ir.BlockStop(index)]
        if kind == "message_delta":
            delta = data.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            self._usage = parse_usage(data.get("usage"), self._usage)
            sequence = delta.get("stop_sequence")
            return [
                ir.MessageDelta(
                    stop_reason=parse_stop_reason(delta.get("stop_reason")),
                    usage=self._usage,
                    stop_sequence=sequence if isinstance(sequence, str) else None,
                )
            ]
        if kind == "message_stop":
            self.finished = True
            return [ir.MessageStop()]
        if kind == "error":
            return self._fail(error_from_anthropic(data.get("error")))
        return []  # ping and event types newer than us

    def close(self) -> list[ir.StreamEvent]:
        if self.finished:
            return []
        return self._fail(UpstreamError("the upstream stream ended before message_stop"))

    def _fail(self, error: GatewayError) -> list[ir.StreamEvent]:
        self.finished = True
        return [ir.StreamError(error)]

    def _message_start(self, raw: object) -> ir.MessageStart:
        message = raw if isinstance(raw, dict) else {}
        raw_usage = message.get("usage")
        usage = parse_usage(raw_usage)
        given = isinstance(raw_usage, dict) and _count(raw_usage, "input_tokens") is not None
        if self._estimate and (not given or usage.prompt_tokens == 0):
            usage = replace(usage, input_tokens=self._estimate, input_estimated=True)
        self._usage = usage
        return ir.MessageStart(
            id=str(message.get("id") or ""),
            model=str(message.get("model") or self.model),
            usage=usage,
        )

    def _block_start(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        index = data.get("index")
        raw = data.get("content_block")
        if not isinstance(index, int):
            return []
        block = parse_output_block(raw) if isinstance(raw, dict) else None
        if block is None:
            self._skipped.add(index)
            return []
        self._skipped.discard(index)
        return [ir.BlockStart(index, block)]

    def _block_delta(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        index = data.get("index")
        delta = data.get("delta")
        if not isinstance(index, int) or index in self._skipped or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return [ir.TextDelta(index, str(delta.get("text") or ""))]
        if kind == "thinking_delta":
            return [ir.ThinkingDelta(index, str(delta.get("thinking") or ""))]
        if kind == "signature_delta":
            return [ir.SignatureDelta(index, str(delta.get("signature") or ""))]
        if kind == "input_json_delta":
            return [ir.ToolInputDelta(index, str(delta.get("partial_json") or ""))]
        return []  # citations_delta and newer kinds


# --------------------------------------------------------------------------- renderer

_Kind = Literal["text", "thinking", "tool_use", "redacted_thinking"]
_DELTA_KIND: dict[type, _Kind] = {
    ir.TextDelta: "text",
    ir.ThinkingDelta: "thinking",
    ir.SignatureDelta: "thinking",
    ir.ToolInputDelta: "tool_use",
}


class StreamRenderer:
    """IR events -> SSE bytes for an Anthropic client.

    Repairs what a sloppy IR stream may do: synthesises `message_start` and block starts
    for text/thinking deltas, re-numbers block indexes densely from 0, closes open blocks
    before `message_delta`, synthesises `message_delta` before `message_stop`. After an
    error or `message_stop` it emits nothing. `include_usage` is accepted for the common
    surface; Anthropic streams always carry usage.
    """

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self.model = model
        self._started = False
        self._done = False
        self._delta_sent = False
        self._saw_tool = False
        self._start_usage = ir.Usage()
        self._next_index = 0
        # IR index -> (client index, block kind) for open blocks.
        self._open: dict[int, tuple[int, _Kind]] = {}
        self._closed: set[int] = set()
        self._signature: dict[int, str] = {}  # signatures known at block start, sent at stop

    def ping(self) -> bytes:
        return _frame({"type": "ping"})

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._done:
            return b""
        if isinstance(event, ir.StreamError):
            self._done = True
            return render_stream_error(event.error)
        out: list[bytes] = []
        if not self._started:
            if not isinstance(event, ir.MessageStart):
                out.append(self._message_start(ir.MessageStart(id="", model=self.model)))
            else:
                return self._message_start(event)
        match event:
            case ir.BlockStart(index=index, block=block):
                out.extend(self._block_start(index, block))
            case ir.TextDelta(index=index, text=text) if text:
                out.extend(self._delta(index, event, {"type": "text_delta", "text": text}))
            case ir.ThinkingDelta(index=index, thinking=text) if text:
                delta = {"type": "thinking_delta", "thinking": text}
                out.extend(self._delta(index, event, delta))
            case ir.SignatureDelta(index=index, signature=signature) if signature:
                self._signature.pop(index, None)
                delta = {"type": "signature_delta", "signature": signature}
                out.extend(self._delta(index, event, delta))
            case ir.ToolInputDelta(index=index, partial_json=text) if text:
                delta = {"type": "input_json_delta", "partial_json": text}
                out.extend(self._delta(index, event, delta))
            case ir.BlockStop(index=index):
                out.extend(self._block_stop(index))
            case ir.MessageDelta():
                out.extend(self._message_delta(event))
            case ir.MessageStop():
                if not self._delta_sent:
                    reason: ir.StopReason = "tool_use" if self._saw_tool else "end_turn"
                    out.extend(self._message_delta(ir.MessageDelta(reason, self._start_usage)))
                self._done = True
                out.append(_frame({"type": "message_stop"}))
        return b"".join(out)

    def _message_start(self, event: ir.MessageStart) -> bytes:
        self._started = True
        self._start_usage = event.usage
        message: dict[str, Any] = {
            "id": event.id or f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": self.model or event.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": render_usage(event.usage),
        }
        return _frame({"type": "message_start", "message": message})

    def _block_start(self, index: int, block: ir.Block) -> list[bytes]:
        if index in self._open:
            return []  # a duplicate start: keep the block already open
        client_index = self._next_index
        self._next_index += 1
        self._closed.discard(index)
        self._open[index] = (client_index, block.type)
        start = render_block(block)
        # Content known up front travels as a delta, as real upstreams send it.
        first: dict[str, Any] | None = None
        if isinstance(block, ir.TextBlock):
            start["text"] = ""
            first = {"type": "text_delta", "text": block.text} if block.text else None
        elif isinstance(block, ir.ThinkingBlock):
            start["thinking"], start["signature"] = "", ""
            first = {"type": "thinking_delta", "thinking": block.thinking}
            first = first if block.thinking else None
            if block.signature:
                self._signature[index] = block.signature
        elif isinstance(block, ir.ToolUseBlock):
            self._saw_tool = True
            start["input"] = {}
            first = {"type": "input_json_delta", "partial_json": _dumps(block.input)}
            first = first if block.input else None
        frames = [
            _frame({"type": "content_block_start", "index": client_index, "content_block": start})
        ]
        if first is not None:
            frames.append(_delta_frame(client_index, first))
        return frames

    def _delta(self, index: int, event: ir.StreamEvent, delta: dict[str, Any]) -> list[bytes]:
        kind = _DELTA_KIND[type(event)]
        frames: list[bytes] = []
        if index not in self._open:
            if index in self._closed or not isinstance(event, ir.TextDelta | ir.ThinkingDelta):
                return []  # late delta, or a tool/signature delta with nothing to attach to
            block: ir.Block = ir.TextBlock("") if kind == "text" else ir.ThinkingBlock("")
            frames.extend(self._block_start(index, block))
        client_index, open_kind = self._open[index]
        if open_kind != kind:
            return frames
        frames.append(_delta_frame(client_index, delta))
        return frames

    def _block_stop(self, index: int) -> list[bytes]:
        if index not in self._open:
            return []
        client_index, _ = self._open.pop(index)
        self._closed.add(index)
        frames: list[bytes] = []
        signature = self._signature.pop(index, None)
        if signature:
            frames.append(
                _delta_frame(client_index, {"type": "signature_delta", "signature": signature})
            )
        frames.append(_frame({"type": "content_block_stop", "index": client_index}))
        return frames

    def _message_delta(self, event: ir.MessageDelta) -> list[bytes]:
        frames: list[bytes] = []
        for index in sorted(self._open, key=lambda i: self._open[i][0]):
            frames.extend(self._block_stop(index))
        usage = event.usage
        if usage.prompt_tokens == 0 and self._start_usage.prompt_tokens:
            # Keep the input count from message_start: Claude Code's context meter needs it.
            usage = replace(
                usage,
                input_tokens=self._start_usage.input_tokens,
                cache_read_input_tokens=self._start_usage.cache_read_input_tokens,
                cache_creation_input_tokens=self._start_usage.cache_creation_input_tokens,
            )
        self._delta_sent = True
        delta = {"stop_reason": event.stop_reason, "stop_sequence": event.stop_sequence}
        frames.append(
            _frame({"type": "message_delta", "delta": delta, "usage": render_usage(usage)})
        )
        return frames


def _delta_frame(index: int, delta: dict[str, Any]) -> bytes:
    return _frame({"type": "content_block_delta", "index": index, "delta": delta})
