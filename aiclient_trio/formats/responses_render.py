"""OpenAI Responses client streams: IR stream events -> the full ordered SSE event set.

Codex reads tool calls only from the complete item in `response.output_item.done`, and
fails a stream that ends without `response.completed`, so both are always sent whole.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import encode_comment
from aiclient_trio.formats.responses_items import (
    STATUS_BY_STOP,
    custom_input,
    message_item,
    reasoning_item,
    response_id,
    response_object,
    sse_frame,
    tool_call_item,
)

__all__ = ["StreamRenderer"]


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
    is buffered and sent whole at the block's end (the IR streams it as JSON). Calls of
    tools that came in a `namespace` carry it. Redacted thinking has no Responses form
    and is left out.
    """

    def __init__(
        self,
        model: str = "",
        include_usage: bool = False,
        custom_tools: frozenset[str] = frozenset(),
        tool_namespaces: Mapping[str, str] | None = None,
        created_at: int | None = None,
    ) -> None:
        # Responses streams always end with usage; `include_usage` is accepted for parity.
        self._model = model
        self._custom_tools = custom_tools
        self._namespaces = tool_namespaces or {}
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
        return sse_frame(kind, data)

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
            added = tool_call_item(
                item.item_id, block.id, block.name, "", custom, self._namespaces, "in_progress"
            )
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
            done = tool_call_item(
                item.item_id, item.call_id, item.name, arguments, False, self._namespaces
            )
        elif item.kind == "custom":
            raw = custom_input(text) if text else ""
            if raw:
                out += self._event("response.custom_tool_call_input.delta", **where, delta=raw)
            out += self._event("response.custom_tool_call_input.done", **where, input=raw)
            done = tool_call_item(
                item.item_id, item.call_id, item.name, text, True, self._namespaces
            )
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
