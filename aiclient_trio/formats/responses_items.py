"""OpenAI Responses building blocks shared by the body and stream codecs: output items,
usage, the `response` object and error codes, so both paths emit byte-identical shapes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import encode_event

__all__ = [
    "STATUS_BY_STOP",
    "custom_input",
    "error_from_code",
    "message_item",
    "output_item_to_block",
    "reasoning_item",
    "render_output_items",
    "render_stream_error",
    "render_usage",
    "response_id",
    "response_object",
    "sse_frame",
    "summary_text",
    "tool_call_item",
    "usage_from_responses",
]

_RETRY_IN = re.compile(r"try again in ([0-9.]+)\s*s", re.IGNORECASE)
# Kept raw by ensure_ascii=False, yet line breaks for str.splitlines-based SSE readers.
_UNICODE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def sse_frame(kind: str, data: dict[str, Any]) -> bytes:
    """One `event: <kind>` + `data: <json>` frame, UTF-8, every line break escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return encode_event(text.translate(_UNICODE_BREAKS), event=kind)


# --------------------------------------------------------------------------- shared helpers


def response_id(ir_id: str) -> str:
    """Responses ids start with `resp_`; ids from other formats get the prefix."""
    return ir_id if ir_id.startswith("resp_") else f"resp_{ir_id or 'gateway'}"


def error_from_code(code: object, message: object) -> errors.GatewayError:
    """A Responses failure (`response.failed` / `error` event) as a gateway error."""
    text = message if isinstance(message, str) and message else "the upstream response failed"
    code_text = code if isinstance(code, str) and code else None
    if code_text == "context_length_exceeded":
        return errors.ContextLengthExceeded(text, code=code_text)
    if code_text in ("insufficient_quota", "usage_not_included"):
        return errors.QuotaExceeded(text, code=code_text)
    if code_text == "rate_limit_exceeded":
        match = _RETRY_IN.search(text)
        retry = float(match.group(1)) if match else None
        return errors.RateLimited(text, code=code_text, retry_after=retry)
    return errors.UpstreamError(text, code=code_text)


def usage_from_responses(usage: object) -> ir.Usage | None:
    """Responses `input_tokens` include cached tokens, like OpenAI chat `prompt_tokens`."""
    if not isinstance(usage, dict):
        return None
    input_details = usage.get("input_tokens_details")
    output_details = usage.get("output_tokens_details")
    input_details = input_details if isinstance(input_details, dict) else {}
    output_details = output_details if isinstance(output_details, dict) else {}
    return ir.Usage.from_openai(
        prompt_tokens=_int(usage.get("input_tokens")),
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(input_details.get("cached_tokens")),
        cache_creation_tokens=_int(input_details.get("cache_write_tokens")),
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
    )


def render_usage(usage: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def summary_text(item: dict[str, Any]) -> str:
    """A reasoning item's text: its summary parts, else its raw reasoning_text parts."""
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            ]
            if texts:
                return "\n\n".join(texts)
    return ""


def output_item_to_block(item: object) -> list[ir.Block]:
    """One output item (reasoning, message, function_call, custom_tool_call) as IR blocks.

    Other item types (web_search_call, ...) have no IR equivalent and give nothing.
    """
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind == "reasoning":
        text = summary_text(item)
        signature = item.get("encrypted_content")
        signature = signature if isinstance(signature, str) and signature else None
        return [ir.ThinkingBlock(text, signature)] if text or signature else []
    if kind == "message":
        blocks: list[ir.Block] = []
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") in ("output_text", "refusal"):
                value = part.get("text") if part["type"] == "output_text" else part.get("refusal")
                if isinstance(value, str):
                    blocks.append(ir.TextBlock(value))
        return blocks
    if kind == "function_call":
        arguments = item.get("arguments")
        tool_input = ir.parse_tool_arguments(arguments if isinstance(arguments, str) else "")
        return [ir.ToolUseBlock(_call_id(item), str(item.get("name") or ""), tool_input)]
    if kind == "custom_tool_call":
        raw = item.get("input")
        raw_input = raw if isinstance(raw, str) else ""
        return [ir.ToolUseBlock(_call_id(item), str(item.get("name") or ""), {"input": raw_input})]
    return []


def _call_id(item: dict[str, Any]) -> str:
    value = item.get("call_id") or item.get("id") or ""
    return str(value)


def custom_input(arguments: str) -> str:
    """The raw string of a custom tool call from the IR's {"input": "..."} arguments."""
    parsed = ir.parse_tool_arguments(arguments)
    value = parsed.get("input")
    return value if isinstance(value, str) else arguments


def reasoning_item(item_id: str, text: str, signature: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
        "encrypted_content": signature,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def tool_call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    custom: bool,
    namespaces: Mapping[str, str],
    status: str = "completed",
) -> dict[str, Any]:
    """A function_call (or custom_tool_call) item; tools from a `namespace` name it."""
    item: dict[str, Any] = {"id": item_id, "call_id": call_id, "name": name}
    if custom:
        item |= {"type": "custom_tool_call", "input": custom_input(arguments) if arguments else ""}
    else:
        item |= {"type": "function_call", "arguments": arguments}
    if name in namespaces:
        item["namespace"] = namespaces[name]
    return item | {"status": status}


def render_output_items(
    blocks: tuple[ir.Block, ...],
    base_id: str,
    custom_tools: frozenset[str],
    namespaces: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Complete output items for finished IR blocks (redacted thinking has no equivalent)."""
    items: list[dict[str, Any]] = []
    for n, block in enumerate(blocks):
        if isinstance(block, ir.TextBlock):
            items.append(message_item(f"msg_{base_id}_{n}", block.text))
        elif isinstance(block, ir.ThinkingBlock):
            items.append(reasoning_item(f"rs_{base_id}_{n}", block.thinking, block.signature))
        elif isinstance(block, ir.ToolUseBlock):
            arguments = json.dumps(block.input, ensure_ascii=False)
            custom = block.name in custom_tools
            item_id = f"fc_{base_id}_{n}"
            items.append(
                tool_call_item(item_id, block.id, block.name, arguments, custom, namespaces)
            )
    return items


STATUS_BY_STOP: dict[str | None, tuple[str, str | None]] = {
    "max_tokens": ("incomplete", "max_output_tokens"),
    "model_context_window_exceeded": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "refusal": ("incomplete", "content_filter"),
}


def response_object(
    *,
    resp_id: str,
    model: str,
    created_at: int,
    output: list[dict[str, Any]],
    usage: ir.Usage | None,
    stop_reason: ir.StopReason | None = None,
    status: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full `response` object with the defaults the OpenAI SDK model expects."""
    incomplete_details = None
    if status is None:
        status, reason = STATUS_BY_STOP.get(stop_reason, ("completed", None))
        if reason is not None:
            incomplete_details = {"reason": reason}
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": None,
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": render_usage(usage) if usage is not None else None,
        "user": None,
        "metadata": {},
    }


def render_stream_error(
    error: errors.GatewayError, *, sequence_number: int = 0, model: str = ""
) -> bytes:
    """A terminal `response.failed` event for a stream that broke (minimal response)."""
    response = response_object(
        resp_id="resp_error",
        model=model,
        created_at=int(time.time()),
        output=[],
        usage=None,
        status="failed",
        error=errors.responses_error_object(error),
    )
    data = {"type": "response.failed", "sequence_number": sequence_number, "response": response}
    return sse_frame("response.failed", data)
