"""OpenAI Chat Completions wire format.

OpenAI Chat Completions <-> IR: requests and non-stream responses (pure functions). Copilot's
chat extensions (reasoning_text/opaque, thinking_budget, split choices) live here too.

The stream state machines live in `openai_chat_stream` and are re-exported here, so this
module offers the whole surface described in `aiclient_trio.formats`.

What the format cannot express (documented losses on a round trip): thinking signatures in
responses (`reasoning_content` carries no signature), `redacted_thinking`, the boundaries
between several text blocks (joined), `is_error` on tool results (an "Error: " prefix),
images inside tool results (moved to a follow-up user message), cache creation tokens
(folded into `prompt_tokens`), `stop_sequence` vs `end_turn` (both are "stop").
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import UpstreamError
from aiclient_trio.formats.contract import (
    FormatCodec,
    answer_without_options,
    renderer_without_options,
)
from aiclient_trio.formats.openai_chat_request import parse_request
from aiclient_trio.formats.openai_chat_stream import StreamParser, StreamRenderer
from aiclient_trio.formats.openai_chat_wire import (
    completion_id,
    error_from_openai,
    finish_reason,
    parse_usage,
    render_stream_error,
    render_usage,
    stop_reason_from_finish,
)

__all__ = [
    "CODEC",
    "StreamParser",
    "StreamRenderer",
    "error_from_openai",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "render_stream_error",
]

# --------------------------------------------------------------------------- render request


def _image_part(image: ir.ImageBlock) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image.data_url}}


def _user_content(blocks: list[ir.ContentBlock]) -> str | list[dict[str, Any]]:
    if all(isinstance(b, ir.TextBlock) for b in blocks):
        return "\n\n".join(b.text for b in blocks if isinstance(b, ir.TextBlock))
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, ir.TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ir.ImageBlock):
            parts.append(_image_part(block))
        elif isinstance(block, ir.DocumentBlock):
            # Only Kiro takes documents so far; other upstreams keep getting a text note.
            parts.append({"type": "text", "text": block.placeholder})
    return parts


def _render_user(message: ir.Message) -> list[dict[str, Any]]:
    """Tool results first (each follows its call), then the rest of the turn as one message."""
    out: list[dict[str, Any]] = []
    rest: list[ir.ContentBlock] = []
    for block in message.content:
        if isinstance(block, ir.ToolResultBlock):
            text = block.text
            if block.is_error:
                text = f"Error: {text}"
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
            # chat/completions tool messages are text-only: images follow as user content
            rest.extend(b for b in block.content if isinstance(b, ir.ImageBlock))
        elif isinstance(block, ir.TextBlock | ir.ImageBlock | ir.DocumentBlock):
            rest.append(block)
    rest = [b for b in rest if not isinstance(b, ir.TextBlock) or b.text]
    if rest or not out:
        out.append({"role": "user", "content": _user_content(rest)})
    return out


def _render_assistant(message: ir.Message) -> dict[str, Any] | None:
    """One assistant message, or None when nothing in it survives (unsigned thinking only)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    rendered: dict[str, Any] = {"role": "assistant"}
    for block in message.content:
        if isinstance(block, ir.TextBlock):
            texts.append(block.text)
        elif isinstance(block, ir.ToolUseBlock):
            arguments = json.dumps(block.input, ensure_ascii=False)
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        elif (
            isinstance(block, ir.ThinkingBlock)
            and block.signature
            and "reasoning_opaque" not in rendered
        ):
            # Copilot's replay of a signed thinking block; unsigned thinking is not replayed.
            rendered["reasoning_text"] = block.thinking
            rendered["reasoning_opaque"] = block.signature
    text = "\n\n".join(texts)
    if not text and not calls and "reasoning_opaque" not in rendered:
        return None
    rendered["content"] = text if text or not calls else None
    if calls:
        rendered["tool_calls"] = calls
    return rendered


def _render_tool_choice(choice: ir.ToolChoice) -> Any:
    if choice.type == "tool" and choice.name:
        return {"type": "function", "function": {"name": choice.name}}
    return {"auto": "auto", "none": "none", "any": "required"}.get(choice.type, "auto")


def render_request(request: ir.Request) -> dict[str, Any]:
    """IR -> a chat completions body for an OpenAI-chat upstream (Copilot /chat/completions)."""
    messages: list[dict[str, Any]] = []
    if request.system_text:
        messages.append({"role": "system", "content": request.system_text})
    for message in request.messages:
        if message.role == "user":
            messages.extend(_render_user(message))
        elif (assistant := _render_assistant(message)) is not None:
            messages.append(assistant)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": tool.input_schema,
                },
            }
            for tool in request.tools
        ]
    if request.tool_choice is not None:
        body["tool_choice"] = _render_tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    thinking = request.thinking
    if thinking is not None and thinking.type != "disabled":
        if thinking.budget_tokens is not None:
            body["thinking_budget"] = thinking.budget_tokens
        if thinking.effort is not None:
            body["reasoning_effort"] = thinking.effort
    elif thinking is not None and thinking.effort == "none":
        body["reasoning_effort"] = "none"
    if request.user is not None:
        body["user"] = request.user
    if request.leftovers is not None and request.leftovers.format == "openai_chat":
        body.update(request.leftovers.fields)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


# --------------------------------------------------------------------------- responses


def parse_response(body: Any) -> ir.Response:
    """An upstream chat.completion -> IR, gathering content from every choice (Copilot splits)."""
    if not isinstance(body, dict):
        raise UpstreamError("the upstream answer is not a JSON object")
    if isinstance(body.get("error"), dict):
        raise error_from_openai(body["error"])
    choices = body.get("choices")
    choices = [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
    choices.sort(key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)
    thinking: list[ir.Block] = []
    texts: list[ir.Block] = []
    tools: list[ir.Block] = []
    finish: str | None = None
    for choice in choices:
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        reasoning = message.get("reasoning_text") or message.get("reasoning_content")
        signature = message.get("reasoning_opaque")
        if (isinstance(reasoning, str) and reasoning) or (isinstance(signature, str) and signature):
            thinking.append(
                ir.ThinkingBlock(
                    reasoning if isinstance(reasoning, str) else "",
                    signature if isinstance(signature, str) and signature else None,
                )
            )
        content = message.get("content")
        if isinstance(content, str) and content:
            texts.append(ir.TextBlock(content))
        elif isinstance(message.get("refusal"), str) and message["refusal"]:
            texts.append(ir.TextBlock(message["refusal"]))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            arguments = function.get("arguments")
            tools.append(
                ir.ToolUseBlock(
                    str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
                    str(function.get("name") or ""),
                    ir.parse_tool_arguments(arguments if isinstance(arguments, str) else ""),
                )
            )
        if finish is None and isinstance(choice.get("finish_reason"), str):
            finish = choice["finish_reason"]
    stop: ir.StopReason | None = None
    if tools:
        stop = "tool_use"
    elif finish is not None:
        stop = stop_reason_from_finish(finish)
    return ir.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=(*thinking, *texts, *tools),
        stop_reason=stop,
        usage=parse_usage(body.get("usage")),
    )


def render_response(response: ir.Response, created: int | None = None) -> dict[str, Any]:
    """IR -> a chat.completion object (one choice)."""
    text = "".join(b.text for b in response.content if isinstance(b, ir.TextBlock))
    thinking = "".join(b.thinking for b in response.content if isinstance(b, ir.ThinkingBlock))
    has_thinking = any(isinstance(b, ir.ThinkingBlock) for b in response.content)
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": json.dumps(b.input, ensure_ascii=False)},
        }
        for b in response.content
        if isinstance(b, ir.ToolUseBlock)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if has_thinking:
        message["reasoning_content"] = thinking
    signature = next(
        (b.signature for b in response.content if isinstance(b, ir.ThinkingBlock) and b.signature),
        None,
    )
    if signature is not None:
        # Copilot's own pair, as Copilot answers it: a client replays it on the next turn.
        message["reasoning_text"] = thinking
        message["reasoning_opaque"] = signature
    return {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(response.stop_reason),
                "logprobs": None,
            }
        ],
        "usage": render_usage(response.usage),
    }


CODEC = FormatCodec(
    name="openai_chat",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=answer_without_options(render_response),
    stream_parser=StreamParser,
    stream_renderer=renderer_without_options(StreamRenderer),
    render_stream_error=render_stream_error,
)
