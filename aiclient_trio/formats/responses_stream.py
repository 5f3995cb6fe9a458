"""OpenAI Responses streams: upstream SSE events -> IR events, and IR events -> client SSE.

Both are sans-I/O state machines. Codex reads tool calls only from the complete item in
`response.output_item.done`, so the renderer always sends whole items there.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import SSEEvent, encode_comment, encode_event
from aiclient_trio.formats.responses_items import (
    STATUS_BY_STOP,
    custom_input,
    error_from_code,
    message_item,
    output_item_to_block,
    reasoning_item,
    render_stream_error,
    response_id,
    response_object,
    tool_call_item,
    usage_from_responses,
)

__all__ = ["StreamParser", "StreamRenderer", "render_stream_error"]

_INCOMPLETE_REASONS: dict[object, ir.StopReason] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}


# --------------------------------------------------------------------------- parser


@dataclass(slots=True)
class _UpstreamItem:
    """An output item the upstream announced; `blocks` maps a part key to its IR index."""

    kind: str
    call_id: str = ""
    name: str = ""
    blocks: dict[int, int] = field(default_factory=dict)
    streamed: bool = False
    last_part: int | None = None


class StreamParser:
    """Feed upstream Responses SSE events, get IR stream events.

    Text blocks open lazily at the first text delta (one per message content part);
    reasoning blocks open at their first delta or at `output_item.done`, so an empty
    reasoning item yields nothing, like `parse_response`. Custom tool input (a raw
    string) becomes the IR's `{"input": "..."}` JSON, escaped chunk by chunk.
    """

    def __init__(self, model: str = "", input_estimate: int = 0) -> None:
        self._model = model
        self._input_estimate = input_estimate
        self._started = False
        self._done = False
        self._next_index = 0
        self._items: dict[int, _UpstreamItem] = {}
        self._closed_items: set[int] = set()
        self._saw_tool = False

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        if self._done or event.data.strip() == "[DONE]":
            return []
        try:
            data = json.loads(event.data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._fail(errors.UpstreamError("the upstream sent an event that is not JSON"))
        kind = data.get("type") or event.event
        out: list[ir.StreamEvent] = []
        if kind == "response.created":
            self._start(out, data.get("response"))
        elif kind == "response.output_item.added":
            self._item_added(out, data)
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            self._text_delta(out, data)
        elif kind == "response.function_call_arguments.delta":
            self._arguments_delta(out, data, custom=False)
        elif kind == "response.custom_tool_call_input.delta":
            self._arguments_delta(out, data, custom=True)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self._reasoning_delta(out, data)
        elif kind == "response.output_item.done":
            self._item_done(out, data)
        elif kind in ("response.completed", "response.incomplete"):
            self._finish(out, data.get("response"), kind == "response.incomplete")
        elif kind == "response.failed":
            response = data.get("response")
            failure = response.get("error") if isinstance(response, dict) else None
            failure = failure if isinstance(failure, dict) else {}
            return self._fail(error_from_code(failure.get("code"), failure.get("message")))
        elif kind == "error":
            nested = data.get("error")
            failure = nested if isinstance(nested, dict) else data
            return self._fail(error_from_code(failure.get("code"), failure.get("message")))
        return out

    def close(self) -> list[ir.StreamEvent]:
        if self._done:
            return []
        return self._fail(
            errors.UpstreamError("the upstream stream closed before response.completed")
        )

    # ------------------------------------------------------------------ handlers

    def _fail(self, error: errors.GatewayError) -> list[ir.StreamEvent]:
        self._done = True
        return [ir.StreamError(error)]

    def _start(self, out: list[ir.StreamEvent], response: object = None) -> None:
        if self._started:
            return
        self._started = True
        response = response if isinstance(response, dict) else {}
        resp_id = response.get("id")
        model = response.get("model")
        out.append(
            ir.MessageStart(
                id=resp_id if isinstance(resp_id, str) and resp_id else "resp_upstream",
                model=model if isinstance(model, str) and model else self._model,
                usage=ir.Usage(input_tokens=self._input_estimate, input_estimated=True),
            )
        )

    def _open(self, out: list[ir.StreamEvent], block: ir.Block) -> int:
        self._start(out)
        index = self._next_index
        self._next_index += 1
        if isinstance(block, ir.ToolUseBlock):
            self._saw_tool = True
        out.append(ir.BlockStart(index, block))
        return index

    def _item(self, data: dict[str, Any], kind: str) -> tuple[int, _UpstreamItem | None]:
        output_index = data.get("output_index")
        if not isinstance(output_index, int) or output_index in self._closed_items:
            return -1, None
        item = self._items.get(output_index)
        if item is None:
            item = self._items[output_index] = _UpstreamItem(kind, str(data.get("item_id") or ""))
        return output_index, item

    def _item_added(self, out: list[ir.StreamEvent], data: dict[str, Any]) -> None:
        raw = data.get("item")
        output_index = data.get("output_index")
        if not isinstance(raw, dict) or not isinstance(output_index, int):
            return
        kind = str(raw.get("type") or "")
        item = _UpstreamItem(kind, str(raw.get("call_id") or raw.get("id") or ""))
        item.name = str(raw.get("name") or "")
        self._items[output_index] = item
        if kind in ("function_call", "custom_tool_call"):
            item.blocks[0] = self._open(out, ir.ToolUseBlock(item.call_id, item.name))

    def _text_delta(self, out: list[ir.StreamEvent], data: dict[str, Any]) -> None:
        _, item = self._item(data, "message")
        delta = data.get("delta")
        if item is None or not isinstance(delta, str):
            return
        part = data.get("content_index")
        part = part if isinstance(part, int) else 0
        if part not in item.blocks:
            item.blocks[part] = self._open(out, ir.TextBlock(""))
        item.streamed = True
        if delta:
            out.append(ir.TextDelta(item.blocks[part], delta))

    def _arguments_delta(
        self, out: list[ir.StreamEvent], data: dict[str, Any], custom: bool
    ) -> None:
        _, item = self._item(data, "custom_tool_call" if custom else "function_call")
        delta = data.get("delta")
        if item is None or not isinstance(delta, str):
            return
        if 0 not in item.blocks:
            item.blocks[0] = self._open(out, ir.ToolUseBlock(item.call_id, item.name))
        index = item.blocks[0]
        if custom:
            prefix = "" if item.streamed else '{"input": "'
            out.append(ir.ToolInputDelta(index, prefix + json.dumps(delta)[1:-1]))
        elif delta:
            out.append(ir.ToolInputDelta(index, delta))
        item.streamed = True

    def _reasoning_delta(self, out: list[ir.StreamEvent], data: dict[str, Any]) -> None:
        _, item = self._item(data, "reasoning")
        delta = data.get("delta")
        if item is None or not isinstance(delta, str) or not delta:
            return
        part = data.get("summary_index", data.get("content_index"))
        part = part if isinstance(part, int) else 0
        if 0 not in item.blocks:
            item.blocks[0] = self._open(out, ir.ThinkingBlock(""))
        elif item.last_part is not None and part != item.last_part:
            out.append(ir.ThinkingDelta(item.blocks[0], "\n\n"))
        item.last_part = part
        item.streamed = True
        out.append(ir.ThinkingDelta(item.blocks[0], delta))

    def _item_done(self, out: list[ir.StreamEvent], data: dict[str, Any]) -> None:
        raw = data.get("item")
        output_index = data.get("output_index")
        if not isinstance(raw, dict) or not isinstance(output_index, int):
            return
        if output_index in self._closed_items:
            return
        self._closed_items.add(output_index)
        item = self._items.pop(output_index, None)
        if item is None or not item.blocks:
            for block in output_item_to_block(raw):
                self._emit_whole(out, block)
            return
        kind = raw.get("type")
        if kind == "message":
            blocks = output_item_to_block(raw)
            for part, block in enumerate(blocks):
                if part not in item.blocks:
                    self._emit_whole(out, block)
                elif not item.streamed and isinstance(block, ir.TextBlock) and block.text:
                    out.append(ir.TextDelta(item.blocks[part], block.text))
        elif kind == "reasoning":
            for block in output_item_to_block(raw):
                if not isinstance(block, ir.ThinkingBlock):
                    continue
                if not item.streamed and block.thinking:
                    out.append(ir.ThinkingDelta(item.blocks[0], block.thinking))
                if block.signature:
                    out.append(ir.SignatureDelta(item.blocks[0], block.signature))
        elif kind == "function_call" and not item.streamed:
            arguments = raw.get("arguments")
            if isinstance(arguments, str) and arguments:
                out.append(ir.ToolInputDelta(item.blocks[0], arguments))
        elif kind == "custom_tool_call":
            if item.streamed:
                out.append(ir.ToolInputDelta(item.blocks[0], '"}'))
            else:
                raw_input = raw.get("input")
                text = raw_input if isinstance(raw_input, str) else ""
                out.append(ir.ToolInputDelta(item.blocks[0], json.dumps({"input": text})))
        out.extend(ir.BlockStop(index) for index in sorted(item.blocks.values()))

    def _emit_whole(self, out: list[ir.StreamEvent], block: ir.Block) -> None:
        if isinstance(block, ir.TextBlock):
            index = self._open(out, ir.TextBlock(""))
            if block.text:
                out.append(ir.TextDelta(index, block.text))
        elif isinstance(block, ir.ThinkingBlock):
            index = self._open(out, ir.ThinkingBlock(""))
            if block.thinking:
                out.append(ir.ThinkingDelta(index, block.thinking))
            if block.signature:
                out.append(ir.SignatureDelta(index, block.signature))
        elif isinstance(block, ir.ToolUseBlock):
            index = self._open(out, ir.ToolUseBlock(block.id, block.name))
            out.append(ir.ToolInputDelta(index, json.dumps(block.input, ensure_ascii=False)))
        else:
            return
        out.append(ir.BlockStop(index))

    def _finish(self, out: list[ir.StreamEvent], response: object, incomplete: bool) -> None:
        response = response if isinstance(response, dict) else {}
        self._start(out, response)
        for item in self._items.values():
            out.extend(ir.BlockStop(index) for index in sorted(item.blocks.values()))
        self._items.clear()
        if self._next_index == 0:
            # Some upstreams send only the final object: take the blocks from it.
            for raw in response.get("output") or []:
                for block in output_item_to_block(raw):
                    self._emit_whole(out, block)
        stop: ir.StopReason = "tool_use" if self._saw_tool else "end_turn"
        if incomplete:
            details = response.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            stop = _INCOMPLETE_REASONS.get(reason, "max_tokens")
        usage = usage_from_responses(response.get("usage"))
        if usage is None:
            usage = ir.Usage(input_tokens=self._input_estimate, input_estimated=True)
        out.append(ir.MessageDelta(stop, usage))
        out.append(ir.MessageStop())
        self._done = True


# --------------------------------------------------------------------------- renderer


@dataclass(slots=True)
class _OutputItem:
    kind: str  # "text" | "function" | "custom" | "thinking"
    output_index: int
    item_id: str
    call_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    summary_open: bool = False


class StreamRenderer:
    """Feed IR events, get the client's Responses SSE bytes (full canonical event order).

    Every event carries `sequence_number`, strictly increasing from 0. Custom tool input
    is buffered and sent whole at the block's end (the IR streams it as JSON). Redacted
    thinking has no Responses form and is left out.
    """

    def __init__(
        self,
        model: str = "",
        include_usage: bool = False,
        custom_tools: frozenset[str] = frozenset(),
        created_at: int | None = None,
    ) -> None:
        # Responses streams always end with usage; `include_usage` is accepted for parity.
        self._model = model
        self._custom_tools = custom_tools
        self._created_at = int(time.time()) if created_at is None else created_at
        self._seq = 0
        self._resp_id = ""
        self._started = False
        self._finished = False
        self._open: dict[int, _OutputItem | None] = {}
        self._output: list[dict[str, Any] | None] = []
        self._stop_reason: ir.StopReason | None = None
        self._usage = ir.Usage()

    @property
    def sequence_number(self) -> int:
        """The next sequence number (for a caller that appends its own terminal event)."""
        return self._seq

    def ping(self) -> bytes:
        return encode_comment("ping")

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._finished:
            return b""
        match event:
            case ir.MessageStart(id=msg_id, model=model):
                return self._start(msg_id, model)
            case ir.BlockStart(index=index, block=block):
                return self._start() + self._block_start(index, block)
            case ir.TextDelta(index=index, text=text):
                return self._delta(index, text)
            case ir.ThinkingDelta(index=index, thinking=text):
                return self._delta(index, text)
            case ir.ToolInputDelta(index=index, partial_json=text):
                return self._delta(index, text)
            case ir.SignatureDelta(index=index, signature=signature):
                item = self._open.get(index)
                if item is not None:
                    item.signature.append(signature)
                return b""
            case ir.BlockStop(index=index):
                return self._block_stop(index)
            case ir.MessageDelta(stop_reason=stop_reason, usage=usage):
                self._stop_reason, self._usage = stop_reason, usage
                return b""
            case ir.MessageStop():
                return self._start() + self._finish()
            case ir.StreamError(error=error):
                head = self._start()
                self._finished = True
                response = self._response("failed", errors.responses_error_object(error))
                return head + self._event("response.failed", response=response)
        return b""

    # ------------------------------------------------------------------ internals

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return encode_event(json.dumps(data, ensure_ascii=False, separators=(",", ":")), kind)

    def _response(self, status: str | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
        done = status != "in_progress"
        return response_object(
            resp_id=self._resp_id,
            model=self._model,
            created_at=self._created_at,
            output=[item for item in self._output if item is not None] if done else [],
            usage=self._usage if status is None else None,
            stop_reason=self._stop_reason,
            status=status,
            error=error,
        )

    def _start(self, msg_id: str = "", model: str = "") -> bytes:
        if self._started:
            return b""
        self._started = True
        self._resp_id = response_id(msg_id or uuid.uuid4().hex)
        self._model = self._model or model
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def _block_start(self, index: int, block: ir.Block) -> bytes:
        output_index = len(self._output)
        base = f"{self._resp_id.removeprefix('resp_')}_{output_index}"
        if isinstance(block, ir.TextBlock):
            item = _OutputItem("text", output_index, f"msg_{base}")
            added = message_item(item.item_id, "", "in_progress") | {"content": []}
            part = {"type": "output_text", "text": "", "annotations": []}
            head = self._added(item, added, index) + self._event(
                "response.content_part.added", **self._where(item), content_index=0, part=part
            )
            return head + self._delta(index, block.text)
        if isinstance(block, ir.ToolUseBlock):
            custom = block.name in self._custom_tools
            item = _OutputItem("custom" if custom else "function", output_index, f"fc_{base}")
            item.call_id, item.name = block.id, block.name
            if block.input:
                item.parts.append(json.dumps(block.input, ensure_ascii=False))
            added = tool_call_item(item.item_id, block.id, block.name, "", custom, "in_progress")
            return self._added(item, added, index)
        if isinstance(block, ir.ThinkingBlock):
            item = _OutputItem("thinking", output_index, f"rs_{base}")
            if block.signature:
                item.signature.append(block.signature)
            head = self._added(item, reasoning_item(item.item_id, "", None), index)
            return head + self._delta(index, block.thinking)
        self._open[index] = None  # redacted thinking: no Responses equivalent
        return b""

    def _added(self, item: _OutputItem, added: dict[str, Any], index: int) -> bytes:
        self._output.append(None)
        self._open[index] = item
        return self._event("response.output_item.added", output_index=item.output_index, item=added)

    @staticmethod
    def _where(item: _OutputItem) -> dict[str, Any]:
        return {"item_id": item.item_id, "output_index": item.output_index}

    def _delta(self, index: int, text: str) -> bytes:
        item = self._open.get(index)
        if item is None or not text:
            return b""
        item.parts.append(text)
        where = self._where(item)
        if item.kind == "text":
            return self._event(
                "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
            )
        if item.kind == "function":
            return self._event("response.function_call_arguments.delta", **where, delta=text)
        if item.kind == "thinking":
            head = b""
            if not item.summary_open:
                item.summary_open = True
                part = {"type": "summary_text", "text": ""}
                head = self._event(
                    "response.reasoning_summary_part.added", **where, summary_index=0, part=part
                )
            return head + self._event(
                "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
            )
        return b""  # custom tool input is sent whole at the end

    def _block_stop(self, index: int) -> bytes:
        item = self._open.pop(index, None)
        if item is None:
            return b""
        text, where = "".join(item.parts), self._where(item)
        out = b""
        if item.kind == "text":
            part = {"type": "output_text", "text": text, "annotations": []}
            out += self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            out += self._event("response.content_part.done", **where, content_index=0, part=part)
            done = message_item(item.item_id, text)
        elif item.kind == "function":
            arguments = text or "{}"
            out += self._event(
                "response.function_call_arguments.done", **where, arguments=arguments
            )
            done = tool_call_item(item.item_id, item.call_id, item.name, arguments, False)
        elif item.kind == "custom":
            raw = custom_input(text) if text else ""
            if raw:
                out += self._event("response.custom_tool_call_input.delta", **where, delta=raw)
            out += self._event("response.custom_tool_call_input.done", **where, input=raw)
            done = tool_call_item(item.item_id, item.call_id, item.name, text, True)
        else:
            if item.summary_open:
                part = {"type": "summary_text", "text": text}
                out += self._event(
                    "response.reasoning_summary_text.done", **where, summary_index=0, text=text
                )
                out += self._event(
                    "response.reasoning_summary_part.done", **where, summary_index=0, part=part
                )
            done = reasoning_item(item.item_id, text, "".join(item.signature) or None)
        self._output[item.output_index] = done
        return out + self._event(
            "response.output_item.done", output_index=item.output_index, item=done
        )

    def _finish(self) -> bytes:
        out = b"".join(self._block_stop(index) for index in list(self._open))
        self._finished = True
        status, _reason = STATUS_BY_STOP.get(self._stop_reason, ("completed", None))
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=self._response(None))
