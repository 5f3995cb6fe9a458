"""OpenAI Responses upstream streams: SSE events -> IR stream events (sans-I/O).

Upstreams may skip deltas and send whole items in `output_item.done`, or only the final
`response.completed`; every path ends in the same IR blocks as `parse_response`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiclient_trio import errors, ir, untrusted
from aiclient_trio.codecs.sse import SSEEvent
from aiclient_trio.formats.responses_items import (
    error_from_code,
    output_item_to_block,
    usage_from_responses,
)

__all__ = ["StreamParser"]

_INCOMPLETE_REASONS: dict[object, ir.StopReason] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}


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
            data = untrusted.loads(event.data)
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
