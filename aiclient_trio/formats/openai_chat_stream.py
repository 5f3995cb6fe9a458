"""Stream state machines for the OpenAI Chat Completions format.

OpenAI chat.completion.chunk streams <-> IR events: the parser and renderer state machines. The
parser absorbs Copilot's quirks (split choices, late usage, interleaved tool calls).

`StreamParser` turns upstream chunk events into IR events. IR blocks are sequential, while
OpenAI deltas are not: text, reasoning and several tool calls may interleave. Each source
(text, thinking, one per tool call) is a channel; one channel's block is open at a time and
streams live, the others buffer. The open block yields to a waiting channel when it cannot
grow any more in a way that matters: text and thinking always may yield (later text opens
a new block), a tool call only once its arguments form complete JSON. At the end every
waiting channel is flushed as its own block, so each block's deltas stay contiguous.

`StreamRenderer` turns IR events into `data: {chunk}` frames. After a `StreamError` it
writes `data: {"error": ...}` and no `[DONE]`: the SDK raises on the error object, and a
client that ignores it still sees a stream without its terminator instead of a clean end.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from aiclient_trio import ir, untrusted
from aiclient_trio.codecs.sse import SSEEvent
from aiclient_trio.errors import GatewayError, UpstreamError
from aiclient_trio.formats.openai_chat_wire import (
    completion_id,
    error_from_openai,
    finish_reason,
    frame,
    parse_usage,
    render_stream_error,
    render_usage,
    stop_reason_from_finish,
)

__all__ = ["StreamParser", "StreamRenderer"]


# --------------------------------------------------------------------------- parser

_Kind = Literal["text", "thinking", "tool"]


@dataclass(slots=True)
class _Channel:
    kind: _Kind
    tool_id: str | None = None
    name: str | None = None
    # Buffered (delta kind, text) while another channel's block is open.
    pending: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    index: int | None = None  # IR block index while open
    closed: bool = False  # a tool call's block, once closed, never reopens

    @property
    def ready(self) -> bool:
        return self.kind != "tool" or bool(self.tool_id and self.name)

    def may_yield(self) -> bool:
        """Whether this block can close without losing anything a later delta may add."""
        if self.kind != "tool":
            return True
        # Cheap test first (called per fragment while others wait): an object ends in "}".
        last = next((a for a in reversed(self.arguments) if a.strip()), "")
        if not last.rstrip().endswith("}"):
            return False
        try:
            untrusted.loads("".join(self.arguments))
        except ValueError:
            return False
        return True


class StreamParser:
    """Upstream chat.completion.chunk events -> IR events (see the module docstring)."""

    def __init__(self, model: str, input_estimate: int = 0) -> None:
        self._model = model
        self._input_estimate = input_estimate
        self._started = False
        self._done = False
        self._next_index = 0
        self._current: _Channel | None = None
        self._waiting: list[_Channel] = []
        self._text: _Channel | None = None
        self._thinking: _Channel | None = None
        self._tools: dict[tuple[int, int], _Channel] = {}
        self._choices_seen: set[int] = set()
        self._finishes: dict[int, str] = {}
        self._usage: ir.Usage | None = None
        self._output_chars = 0
        self._out: list[ir.StreamEvent] = []

    # ---- public

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        if self._done:
            return []
        data = event.data.strip()
        if not data:
            return []
        if data == "[DONE]":
            return self._end(done_marker=True)
        try:
            chunk = untrusted.loads(data)
        except ValueError:
            return self._fail(UpstreamError("the upstream sent a stream chunk that is not JSON"))
        if not isinstance(chunk, dict):
            return self._fail(UpstreamError("the upstream sent a stream chunk that is not JSON"))
        if chunk.get("error"):
            return self._fail(error_from_openai(chunk["error"]))
        self._chunk(chunk)
        if (
            self._usage is not None
            and self._finishes
            and self._choices_seen <= self._finishes.keys()
        ):
            self._finish()
        return self._take()

    def close(self) -> list[ir.StreamEvent]:
        """The upstream body ended; an unfinished message becomes a `StreamError`."""
        if self._done:
            return []
        return self._end(done_marker=False)

    # ---- chunk handling

    def _chunk(self, chunk: dict[str, Any]) -> None:
        choices = chunk.get("choices")
        if not self._started and (chunk.get("id") or choices):
            self._started = True
            self._out.append(
                ir.MessageStart(
                    id=str(chunk.get("id") or f"chatcmpl-{uuid.uuid4().hex}"),
                    model=self._model or str(chunk.get("model") or ""),
                    usage=ir.Usage(input_tokens=self._input_estimate, input_estimated=True),
                )
            )
        if isinstance(chunk.get("usage"), dict):
            self._usage = parse_usage(chunk["usage"])
        if not isinstance(choices, list):
            return  # `choices: null` chunks carry Copilot annotations only
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            index = index if isinstance(index, int) else position
            self._choices_seen.add(index)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(index, delta)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._finishes[index] = reason

    def _delta(self, choice: int, delta: dict[str, Any]) -> None:
        for key in ("reasoning_text", "reasoning_content"):
            value = delta.get(key)
            if isinstance(value, str) and value:
                self._thinking = self._route(self._thinking, "thinking", "thinking", value)
        opaque = delta.get("reasoning_opaque")
        if isinstance(opaque, str) and opaque:
            self._thinking = self._route(self._thinking, "thinking", "signature", opaque)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text = self._route(self._text, "text", "text", content)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    self._tool_delta(choice, position, call)

    def _tool_delta(self, choice: int, position: int, call: dict[str, Any]) -> None:
        slot = call.get("index")
        key = (choice, slot if isinstance(slot, int) else position)
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id, name = call.get("id"), function.get("name")
        channel = self._tools.get(key)
        if (
            channel is not None
            and isinstance(call_id, str)
            and channel.tool_id not in (None, call_id)
        ):
            channel = None  # a new call reusing an index (seen in peers)
        if channel is None:
            channel = _Channel("tool")
            self._tools[key] = channel
        was_ready = channel.ready
        if isinstance(call_id, str) and call_id and not channel.tool_id:
            channel.tool_id = call_id
        if isinstance(name, str) and name and not channel.name:
            channel.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            if channel.closed:
                return  # arguments after the call's JSON was complete: nowhere to put them
            self._route(channel, "tool", "arguments", arguments)
        elif channel.ready and not was_ready:
            self._enqueue(channel)
            self._advance()

    def _route(self, channel: _Channel | None, kind: _Kind, part: str, text: str) -> _Channel:
        """Send a fragment to its channel: live if its block is open, else buffered."""
        if channel is None or (channel.closed and kind != "tool"):
            channel = _Channel(kind)
        if part == "arguments":
            channel.arguments.append(text)
        self._output_chars += len(text)
        if channel is self._current:
            self._emit(channel, part, text)
        else:
            channel.pending.append((part, text))
            if channel.ready:
                self._enqueue(channel)
        self._advance()
        return channel

    def _enqueue(self, channel: _Channel) -> None:
        if channel is not self._current and channel not in self._waiting:
            self._waiting.append(channel)

    def _advance(self, force: bool = False) -> None:
        while self._waiting and (self._current is None or force or self._current.may_yield()):
            self._close_current()
            self._open(self._waiting.pop(0))

    def _open(self, channel: _Channel) -> None:
        index = self._next_index
        self._next_index += 1
        channel.index = index
        block: ir.Block
        if channel.kind == "tool":
            block = ir.ToolUseBlock(channel.tool_id or "", channel.name or "")
        elif channel.kind == "thinking":
            block = ir.ThinkingBlock("")
        else:
            block = ir.TextBlock("")
        self._out.append(ir.BlockStart(index, block))
        self._current = channel
        for part, text in channel.pending:
            self._emit(channel, part, text)
        channel.pending.clear()

    def _emit(self, channel: _Channel, part: str, text: str) -> None:
        index = channel.index if channel.index is not None else 0
        if part == "text":
            self._out.append(ir.TextDelta(index, text))
        elif part == "thinking":
            self._out.append(ir.ThinkingDelta(index, text))
        elif part == "signature":
            self._out.append(ir.SignatureDelta(index, text))
        else:
            self._out.append(ir.ToolInputDelta(index, text))

    def _close_current(self) -> None:
        channel = self._current
        if channel is None:
            return
        self._out.append(ir.BlockStop(channel.index or 0))
        channel.index = None
        channel.closed = True
        self._current = None

    # ---- ending

    def _stop_reason(self) -> ir.StopReason:
        if self._tools and any(c.ready for c in self._tools.values()):
            return "tool_use"
        reasons = [self._finishes[k] for k in sorted(self._finishes)]
        if "tool_calls" in reasons or "function_call" in reasons:
            return "tool_use"
        return stop_reason_from_finish(reasons[0]) if reasons else "end_turn"

    def _finish(self) -> None:
        self._advance(force=True)
        self._close_current()
        usage = self._usage
        if usage is None:  # no usage from upstream: our estimates, flagged as such
            usage = ir.Usage(
                input_tokens=self._input_estimate,
                output_tokens=math.ceil(self._output_chars / 4),
                input_estimated=True,
                output_estimated=True,
            )
        self._out.append(ir.MessageDelta(self._stop_reason(), usage))
        self._out.append(ir.MessageStop())
        self._done = True

    def _end(self, done_marker: bool) -> list[ir.StreamEvent]:
        if self._finishes:
            self._finish()
            return self._take()
        how = "sent [DONE]" if done_marker else "closed the stream"
        return self._fail(UpstreamError(f"the upstream {how} before finish_reason"))

    def _fail(self, error: GatewayError) -> list[ir.StreamEvent]:
        self._out.append(ir.StreamError(error))
        self._done = True
        return self._take()

    def _take(self) -> list[ir.StreamEvent]:
        out, self._out = self._out, []
        return out


# --------------------------------------------------------------------------- renderer


class StreamRenderer:
    """IR events -> chat.completion.chunk SSE frames for an OpenAI-chat client."""

    def __init__(self, model: str, include_usage: bool = False, created: int | None = None) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = int(time.time()) if created is None else created
        self._id = completion_id("")
        self._started = False
        self._finished = False
        self._done = False
        self._usage = ir.Usage()
        self._tool_slots: dict[int, int] = {}  # IR block index -> tool_calls index k

    def ping(self) -> bytes:
        return b": ping\n\n"

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.MessageStart(id=message_id, usage=usage):
                self._id = completion_id(message_id)
                self._usage = usage
                return self._start()
            case ir.BlockStart(index=index, block=ir.ToolUseBlock(id=call_id, name=name)):
                slot = self._tool_slots[index] = len(self._tool_slots)
                call = {
                    "index": slot,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                return self._start() + self._chunk({"tool_calls": [call]})
            case ir.TextDelta(text=text) if text:
                return self._start() + self._chunk({"content": text})
            case ir.ThinkingDelta(thinking=text) if text:
                return self._start() + self._chunk({"reasoning_content": text})
            case ir.SignatureDelta(signature=signature) if signature:
                # Copilot's field for it: a client replays it with the thinking next turn.
                return self._start() + self._chunk({"reasoning_opaque": signature})
            case ir.ToolInputDelta(index=index, partial_json=text) if text:
                slot = self._tool_slots.get(index, 0)
                call = {"index": slot, "function": {"arguments": text}}
                return self._start() + self._chunk({"tool_calls": [call]})
            case ir.MessageDelta(stop_reason=reason, usage=usage):
                self._usage = usage
                return self._start() + self._finish(finish_reason(reason))
            case ir.MessageStop():
                out = self._start()
                if not self._finished:
                    out += self._finish("stop")
                if self._include_usage:
                    out += self._frame_usage()
                self._done = True
                return out + b"data: [DONE]\n\n"
            case ir.StreamError(error=error):
                self._done = True
                return render_stream_error(error)
        return b""  # block starts/stops of text and thinking, signatures, empty deltas

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._chunk({"role": "assistant", "content": ""})

    def _finish(self, reason: str) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        return self._chunk({}, reason)

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        payload = self._envelope()
        payload["choices"] = [
            {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        ]
        if self._include_usage:
            payload["usage"] = None
        return frame(payload)

    def _frame_usage(self) -> bytes:
        payload = self._envelope()
        payload["choices"] = []
        payload["usage"] = render_usage(self._usage)
        return frame(payload)
