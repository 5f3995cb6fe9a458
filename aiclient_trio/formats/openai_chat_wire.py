"""Small OpenAI chat helpers; `error_from_openai` is also what providers use on error bodies.

Pieces of the OpenAI chat wire shared by the body and stream code: error objects, usage, finish
reasons, completion ids, SSE data frames.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    openai_error_body,
)

__all__ = [
    "completion_id",
    "error_from_openai",
    "finish_reason",
    "frame",
    "parse_usage",
    "render_stream_error",
    "render_usage",
    "stop_reason_from_finish",
]

_FINISH_TO_STOP: dict[str, ir.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}

_STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}

# Upstream error codes/types -> our error classes (first match wins; message words last).
_ERROR_CODES: tuple[tuple[tuple[str, ...], type[GatewayError]], ...] = (
    (("context_length_exceeded", "model_max_prompt_tokens_exceeded"), ContextLengthExceeded),
    (("insufficient_quota", "quota_exceeded"), QuotaExceeded),
    (("rate_limit_exceeded", "rate_limit_error", "rate_limited"), RateLimited),
    (("model_not_supported", "model_not_found", "not_found_error"), NotFound),
    (("invalid_api_key", "authentication_error", "unauthorized"), AuthenticationError),
    (("permission_error", "forbidden"), PermissionDenied),
    (("overloaded", "overloaded_error", "server_is_overloaded"), Overloaded),
    (("timeout",), UpstreamTimeout),
    (
        ("invalid_request_error", "invalid_request_body", "unsupported_api_for_model"),
        InvalidRequest,
    ),
)


def error_from_openai(error: Any) -> GatewayError:
    """An upstream `{"error": {...}}` object -> the matching `GatewayError` subclass."""
    if not isinstance(error, dict):
        return UpstreamError(str(error) if error else "upstream error")
    message = error.get("message")
    message = message if isinstance(message, str) and message else "upstream error"
    keys = {str(error.get(k)).lower() for k in ("code", "type") if error.get(k)}
    param = error.get("param") if isinstance(error.get("param"), str) else None
    for codes, cls in _ERROR_CODES:
        if keys.intersection(codes):
            return cls(message, param=param)
    if "overloaded" in message.lower():
        return Overloaded(message)
    return UpstreamError(message)


def completion_id(raw_id: str) -> str:
    """Chat completion ids start with "chatcmpl-"; keep the IR id visible inside it."""
    if raw_id.startswith("chatcmpl-"):
        return raw_id
    return f"chatcmpl-{raw_id or uuid.uuid4().hex}"


def finish_reason(stop: ir.StopReason | None) -> str:
    return _STOP_TO_FINISH.get(stop or "end_turn", "stop")


def render_usage(usage: ir.Usage) -> dict[str, Any]:
    """OpenAI usage: prompt_tokens includes the cached (and cache-creation) tokens."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def stop_reason_from_finish(reason: str) -> ir.StopReason:
    return _FINISH_TO_STOP.get(reason, "end_turn")


def parse_usage(raw: Any) -> ir.Usage:
    """OpenAI usage -> IR usage (cached tokens split out of prompt_tokens)."""
    if not isinstance(raw, dict):
        return ir.Usage()

    def number(source: Any, key: str) -> int:
        value = source.get(key) if isinstance(source, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    details = raw.get("prompt_tokens_details")
    return ir.Usage.from_openai(
        prompt_tokens=number(raw, "prompt_tokens"),
        completion_tokens=number(raw, "completion_tokens"),
        cached_tokens=number(details, "cached_tokens"),
        cache_creation_tokens=number(raw, "cache_creation_input_tokens")
        or number(details, "cache_creation_input_tokens"),
        reasoning_tokens=number(raw.get("completion_tokens_details"), "reasoning_tokens"),
    )


def frame(payload: Any) -> bytes:
    """One SSE `data:` frame (compact JSON never contains a newline)."""
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace") + b"\n\n"


def render_stream_error(error: GatewayError) -> bytes:
    """The terminal error frame of a chat stream (the OpenAI SDK raises on it)."""
    return frame(openai_error_body(error))
