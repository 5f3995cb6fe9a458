"""Anthropic Messages (`POST /v1/messages`): the format module the server and providers use.

`parse_request` comes from `anthropic_request`, the stream state machines from
`anthropic_stream`; this module renders requests for an Anthropic upstream and converts
non-stream message bodies both ways.
"""

from __future__ import annotations

from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import UpstreamError
from aiclient_trio.formats.anthropic_request import parse_request
from aiclient_trio.formats.anthropic_stream import (
    StreamParser,
    StreamRenderer,
    error_from_anthropic,
    parse_output_block,
    parse_stop_reason,
    parse_usage,
    render_block,
    render_stream_error,
    render_usage,
)
from aiclient_trio.formats.contract import (
    FormatCodec,
    answer_without_options,
    renderer_without_options,
)

__all__ = [
    "CODEC",
    "DEFAULT_MAX_TOKENS",
    "StreamParser",
    "StreamRenderer",
    "count_tokens_response",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "render_stream_error",
]

# Anthropic requires max_tokens; used when a translated request (OpenAI) did not set one.
DEFAULT_MAX_TOKENS = 8192
# Thinking budgets used when a translated request asks for reasoning without a budget.
_EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}


# --------------------------------------------------------------------------- request: render


def render_request(
    request: ir.Request, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """IR -> an Anthropic request body a real Anthropic upstream accepts.

    Adjacent same-role turns are merged, tool results lead their user turn, unsigned
    thinking and blank text blocks are dropped, and `max_tokens` is always present.
    With thinking on, what Anthropic refuses alongside it is left out: a forced tool
    choice turns thinking off; temperature (unless 1), top_k and top_p < 0.95 are dropped.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens,
        "messages": _render_messages(request.messages),
    }
    system = [_render_text(b) for b in request.system if b.text.strip()]
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "input_schema": t.input_schema}
            | ({"description": t.description} if t.description else {})
            for t in request.tools
        ]
        choice = _render_tool_choice(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    thinking = _render_thinking(request.thinking, body["max_tokens"])
    forced = body.get("tool_choice", {}).get("type") in ("any", "tool")
    if thinking is not None and thinking["type"] != "disabled" and forced:
        thinking = None
    if thinking is not None:
        body["thinking"] = thinking
    if request.thinking is not None and request.thinking.effort:
        body["output_config"] = {"effort": request.thinking.effort}
    sampling = {"temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k}
    if thinking is not None and thinking["type"] != "disabled":
        sampling["temperature"] = 1.0 if request.temperature == 1 else None
        sampling["top_p"] = request.top_p if (request.top_p or 0) >= 0.95 else None
        sampling["top_k"] = None
    body.update((key, value) for key, value in sampling.items() if value is not None)
    if request.stop_sequences:
        body["stop_sequences"] = list(request.stop_sequences)
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    # Leftovers of an Anthropic client's body (context_management...) ride along.
    leftovers = request.leftovers
    if leftovers is not None and leftovers.format == "anthropic":
        for key, value in leftovers.fields.items():
            if key in body and isinstance(body[key], dict) and isinstance(value, dict):
                body[key] = value | body[key]
            else:
                body.setdefault(key, value)
    return body


def _render_messages(messages: tuple[ir.Message, ...]) -> list[dict[str, Any]]:
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        blocks = [
            rendered
            for block in message.content
            if (rendered := _render_content_block(block)) is not None
        ]
        if not blocks:
            continue
        if turns and turns[-1][0] == message.role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((message.role, blocks))
    out: list[dict[str, Any]] = []
    for role, blocks in turns:
        if role == "user":
            # Anthropic wants the tool results right at the start of the user turn.
            results = [b for b in blocks if b["type"] == "tool_result"]
            blocks = results + [b for b in blocks if b["type"] != "tool_result"]
        out.append({"role": role, "content": blocks})
    return out


def _render_text(block: ir.TextBlock) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "text", "text": block.text}
    if block.cache_control is not None:
        out["cache_control"] = block.cache_control
    return out


def _render_image(block: ir.ImageBlock) -> dict[str, Any]:
    if block.url is not None:
        if block.url.startswith("data:") and ";base64," in block.url:
            head, data = block.url[5:].split(";base64,", 1)
            source = {"type": "base64", "media_type": head or "image/png", "data": data}
            return {"type": "image", "source": source}
        return {"type": "image", "source": {"type": "url", "url": block.url}}
    source = {
        "type": "base64",
        "media_type": block.media_type or "image/png",
        "data": block.data or "",
    }
    return {"type": "image", "source": source}


def _render_content_block(block: ir.ContentBlock) -> dict[str, Any] | None:
    match block:
        case ir.TextBlock():
            return _render_text(block) if block.text.strip() else None
        case ir.ImageBlock():
            return _render_image(block)
        case ir.DocumentBlock():
            # Only Kiro takes documents so far; other upstreams keep getting a text note.
            return {"type": "text", "text": block.placeholder}
        case ir.ToolResultBlock():
            out: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id}
            parts = [
                _render_text(p) if isinstance(p, ir.TextBlock) else _render_image(p)
                for p in block.content
                if not isinstance(p, ir.TextBlock) or p.text.strip()
            ]
            if parts:
                out["content"] = parts
            if block.is_error:
                out["is_error"] = True
            return out
        case ir.ThinkingBlock():
            # Anthropic rejects thinking it did not sign: drop unsigned (translated) ones.
            return render_block(block) if block.signature else None
        case _:
            return render_block(block)


def _render_tool_choice(
    choice: ir.ToolChoice | None, parallel: bool | None
) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    choice = choice or ir.ToolChoice("auto")
    out: dict[str, Any] = {"type": choice.type}
    if choice.type == "tool":
        out["name"] = choice.name or ""
    if parallel is False and choice.type != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _render_thinking(config: ir.ThinkingConfig | None, max_tokens: int) -> dict[str, Any] | None:
    if config is None:
        return None
    if config.type != "enabled":
        return {"type": config.type}
    budget = config.budget_tokens
    if budget is None:
        budget = _EFFORT_BUDGETS.get(config.effort or "", 4096)
    # Anthropic: 1024 <= budget_tokens < max_tokens; without room, do not think.
    budget = min(budget, max_tokens - 1)
    if budget < 1024:
        return None
    return {"type": "enabled", "budget_tokens": budget}


# --------------------------------------------------------------------------- responses


def render_response(response: ir.Response) -> dict[str, Any]:
    """IR -> an Anthropic `message` object (the non-stream answer)."""
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [render_block(b) for b in response.content],
        "stop_reason": response.stop_reason,
        "stop_sequence": response.stop_sequence,
        "usage": render_usage(response.usage),
    }


def parse_response(body: object) -> ir.Response:
    """An upstream Anthropic non-stream body -> IR. Error bodies raise the mapped error."""
    if not isinstance(body, dict):
        raise UpstreamError(f"upstream answered with a {type(body).__name__}, not a message")
    if body.get("type") == "error":
        raise error_from_anthropic(body.get("error"))
    raw_content = body.get("content")
    if not isinstance(raw_content, list):
        raise UpstreamError("upstream message has no content array")
    content: list[ir.Block] = []
    for item in raw_content:
        if not isinstance(item, dict):
            continue
        block = parse_output_block(item)
        if block is not None:
            content.append(block)
    reason = body.get("stop_reason")
    sequence = body.get("stop_sequence")
    return ir.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=tuple(content),
        stop_reason=parse_stop_reason(reason),
        usage=parse_usage(body.get("usage")),
        stop_sequence=sequence if isinstance(sequence, str) else None,
    )


def count_tokens_response(n: int) -> dict[str, Any]:
    """The `/v1/messages/count_tokens` answer."""
    return {"input_tokens": n}


CODEC = FormatCodec(
    name="anthropic",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=answer_without_options(render_response),
    stream_parser=StreamParser,
    stream_renderer=renderer_without_options(StreamRenderer),
    render_stream_error=render_stream_error,
)
