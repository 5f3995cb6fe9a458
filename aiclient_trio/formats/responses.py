"""OpenAI Responses wire format (`POST /v1/responses`): the format surface, IR requests
as upstream bodies, and non-stream response bodies both ways.

Stateless by design: Codex sends the whole conversation as input items every turn, so
`previous_response_id` is refused and `store` is never honoured. Parsing requests lives in
`responses_request`, streams in `responses_stream` / `responses_render`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from aiclient_trio import errors, ir
from aiclient_trio.formats.contract import FormatCodec, JSONObject, RenderOptions
from aiclient_trio.formats.responses_items import (
    error_from_code,
    output_item_to_block,
    render_output_items,
    render_stream_error,
    response_id,
    response_object,
    usage_from_responses,
)
from aiclient_trio.formats.responses_render import StreamRenderer
from aiclient_trio.formats.responses_request import parse_request
from aiclient_trio.formats.responses_stream import StreamParser

__all__ = [
    "CODEC",
    "StreamParser",
    "StreamRenderer",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "render_stream_error",
]

_CHOICE_NAMES = {"auto": "auto", "any": "required", "none": "none"}
# Codex sends a low/medium/high effort; an Anthropic-style budget maps onto the same scale.
_BUDGET_EFFORTS = ((4096, "low"), (16384, "medium"))


# --------------------------------------------------------------------------- render_request


def _render_parts(blocks: list[ir.ContentBlock], role: str) -> dict[str, Any]:
    text_type = "output_text" if role == "assistant" else "input_text"
    content: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, ir.TextBlock):
            content.append({"type": text_type, "text": block.text})
        elif isinstance(block, ir.ImageBlock):
            content.append({"type": "input_image", "image_url": block.data_url, "detail": "auto"})
        elif isinstance(block, ir.DocumentBlock):
            # Only Kiro takes documents so far; other upstreams keep getting a text note.
            content.append({"type": text_type, "text": block.placeholder})
    return {"type": "message", "role": role, "content": content}


def _render_output(block: ir.ToolResultBlock) -> dict[str, Any]:
    output: str | list[dict[str, Any]]
    if all(isinstance(b, ir.TextBlock) for b in block.content):
        output = block.text
    else:
        output = _render_parts(list(block.content), "user")["content"]
    item: dict[str, Any] = {"type": "function_call_output", "call_id": block.tool_use_id}
    return item | {"output": output}


def _render_items(message: ir.Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pending: list[ir.ContentBlock] = []

    def flush() -> None:
        if pending:
            items.append(_render_parts(pending, message.role))
            pending.clear()

    for block in message.content:
        if isinstance(block, ir.TextBlock | ir.ImageBlock | ir.DocumentBlock):
            if message.role == "user" or isinstance(block, ir.TextBlock):
                pending.append(block)
            continue
        flush()
        if isinstance(block, ir.ToolUseBlock):
            arguments = json.dumps(block.input, ensure_ascii=False)
            items.append(
                {"type": "function_call", "call_id": block.id, "name": block.name}
                | {"arguments": arguments}
            )
        elif isinstance(block, ir.ToolResultBlock):
            items.append(_render_output(block))
        elif isinstance(block, ir.ThinkingBlock) and block.signature:
            # Only signed reasoning can be replayed; the item id is not kept in the IR.
            summary = [{"type": "summary_text", "text": block.thinking}] if block.thinking else []
            items.append(
                {"type": "reasoning", "summary": summary, "encrypted_content": block.signature}
            )
    flush()
    return items


def _effort(thinking: ir.ThinkingConfig) -> str:
    if thinking.effort:
        return thinking.effort
    for limit, effort in _BUDGET_EFFORTS:
        if thinking.budget_tokens is not None and thinking.budget_tokens <= limit:
            return effort
    return "medium" if thinking.budget_tokens is None else "high"


def render_request(request: ir.Request) -> dict[str, Any]:
    """The IR as a Responses upstream body (stateless: `store` false, full input).

    Custom tools travel as plain functions (`{"input": ...}`); stop sequences and top_k
    have no Responses equivalent and are left out.
    """
    body: dict[str, Any] = {"model": request.model}
    if request.system_text:
        body["instructions"] = request.system_text
    body["input"] = [item for message in request.messages for item in _render_items(message)]
    if request.tools:
        body["tools"] = [
            {"type": "function", "name": tool.name, "description": tool.description}
            | {"parameters": tool.input_schema, "strict": False}
            for tool in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        if choice.type == "tool":
            body["tool_choice"] = {"type": "function", "name": choice.name}
        else:
            body["tool_choice"] = _CHOICE_NAMES[choice.type]
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    for key, value in (
        ("max_output_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("user", request.user),
    ):
        if value is not None:
            body[key] = value
    thinking = request.thinking
    if thinking is not None and thinking.type != "disabled":
        body["reasoning"] = {"effort": _effort(thinking), "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]
    body["store"] = False
    body["stream"] = request.stream
    return body


# --------------------------------------------------------------------------- responses


def parse_response(body: Any) -> ir.Response:
    """An upstream non-stream Responses body as IR (a failed response raises its error)."""
    if not isinstance(body, dict):
        raise errors.UpstreamError("the upstream response is not a JSON object")
    status, failure = body.get("status"), body.get("error")
    if status == "failed" or isinstance(failure, dict):
        failure = failure if isinstance(failure, dict) else {}
        raise error_from_code(failure.get("code"), failure.get("message"))
    content: list[ir.Block] = []
    for item in body.get("output") or []:
        content.extend(output_item_to_block(item))
    stop: ir.StopReason = (
        "tool_use" if any(isinstance(b, ir.ToolUseBlock) for b in content) else "end_turn"
    )
    if status == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        stop = "content_filter" if reason == "content_filter" else "max_tokens"
    return ir.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=tuple(content),
        stop_reason=stop,
        usage=usage_from_responses(body.get("usage")) or ir.Usage(),
    )


def render_response(
    response: ir.Response,
    *,
    custom_tools: frozenset[str] = frozenset(),
    tool_namespaces: Mapping[str, str] | None = None,
    model: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """The IR as a full Responses `response` object. Calls of custom tools become
    `custom_tool_call` items; calls of namespaced tools carry their `namespace`."""
    resp_id = response_id(response.id)
    return response_object(
        resp_id=resp_id,
        model=model or response.model,
        created_at=int(time.time()) if created_at is None else created_at,
        output=render_output_items(
            response.content, resp_id.removeprefix("resp_"), custom_tools, tool_namespaces or {}
        ),
        usage=response.usage,
        stop_reason=response.stop_reason,
    )


def _render_with(response: ir.Response, options: RenderOptions) -> JSONObject:
    return render_response(
        response, custom_tools=options.custom_tools, tool_namespaces=options.tool_namespaces
    )


def _renderer(model: str, include_usage: bool, options: RenderOptions) -> StreamRenderer:
    return StreamRenderer(
        model=model,
        include_usage=include_usage,
        custom_tools=options.custom_tools,
        tool_namespaces=options.tool_namespaces,
    )


CODEC = FormatCodec(
    name="responses",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=_render_with,
    stream_parser=StreamParser,
    stream_renderer=_renderer,
    render_stream_error=render_stream_error,
)
