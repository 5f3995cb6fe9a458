"""What the simulated Kiro model answers: the shared script rendered as CodeWhisperer events.

Turns a checked request into a list of frame specs (`{"event": type, "payload": {...}}`,
`{"exception": type, "message": ...}`, `{"error": code, "message": ...}`) with usage numbers
consistent with the request's size, so clients' context meters move.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiclient_trio.simulator.kiro_auth import Outcome
from aiclient_trio.simulator.kiro_models import CONTEXT_WINDOW, DEFAULT_MODELS
from aiclient_trio.simulator.kiro_rules import iter_messages
from aiclient_trio.simulator.script import Reply, count_tokens, fragments, plan_reply

__all__ = [
    "BEARER_INVALID",
    "CONTEXT_WINDOW",
    "DEFAULT_MODELS",
    "HTTP_ERRORS",
    "SIMULATOR_NAME",
    "STATUS_ERRORS",
    "FrameSpec",
    "bad_signature",
    "plan_frames",
    "reply_for",
    "request_text",
    "signature_for",
]

BEARER_INVALID = "The bearer token included in the request is invalid."
# The upstream error answers of kiro.md section 10.2: name -> (status, body, headers).
HTTP_ERRORS: dict[str, Outcome] = {
    "malformed": (400, {"message": "Improperly formed request.", "reason": None}, {}),
    "too_long": (
        400,
        {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "invalid_model": (
        400,
        {
            "message": "Invalid model. Please select a different model.",
            "reason": "INVALID_MODEL_ID",
        },
        {"x-amzn-errortype": "ValidationException"},
    ),
    "bearer": (403, {"message": BEARER_INVALID}, {"x-amzn-errortype": "AccessDeniedException"}),
    # The same refusal as a 401 (docs/kiro.md: "401/403 whose body says ...").
    "bearer_401": (401, {"message": BEARER_INVALID}, {"x-amzn-errortype": "UnauthorizedException"}),
    "forbidden": (
        403,
        {"message": "User is not authorized to make this call.", "reason": None},
        {"x-amzn-errortype": "AccessDeniedException"},
    ),
    "quota": (
        402,
        {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"},
        {"x-amzn-errortype": "ServiceQuotaExceededException"},
    ),
    "throttle": (
        429,
        {"message": "Model is busy, try again later.", "reason": "INSUFFICIENT_MODEL_CAPACITY"},
        {"x-amzn-errortype": "ThrottlingException", "retry-after": "2"},
    ),
    # The late-2026 answers (kiro-2026.md section 7): quota spent, rate limits, account
    # trouble and client errors.
    "quota_429": (
        429,
        {"message": "Monthly request limit reached.", "reason": "MONTHLY_REQUEST_COUNT"},
        {"x-amzn-errortype": "ThrottlingException"},
    ),
    "usage_limit": (
        429,
        {"message": "You have reached your usage limit.", "reason": "USAGE_LIMIT_REACHED"},
        {"x-amzn-errortype": "ThrottlingException"},
    ),
    "overage": (
        402,
        {"message": "Overage limit exceeded.", "reason": "OVERAGE_REQUEST_LIMIT_EXCEEDED"},
        {"x-amzn-errortype": "ServiceQuotaExceededException"},
    ),
    "credit_rate": (
        429,
        {
            "message": "Credit consumption rate exceeded.",
            "reason": "CREDIT_CONSUMPTION_RATE_EXCEEDED",
        },
        {"x-amzn-errortype": "ThrottlingException", "retry-after": "7"},
    ),
    "user_rate": (
        429,
        {"message": "Too many requests.", "reason": "USER_REQUEST_RATE_EXCEEDED"},
        {"x-amzn-errortype": "ThrottlingException", "retry-after": "3"},
    ),
    "suspicious": (
        429,
        {
            "message": "Due to suspicious activity, your account has been temporarily "
            "restricted. Please contact support.",
            "reason": None,
        },
        {"x-amzn-errortype": "ThrottlingException"},
    ),
    "suspended": (
        403,
        {
            "message": "Your account has been suspended: we have locked your account "
            "because of unusual activity.",
            "reason": "TEMPORARILY_SUSPENDED",
        },
        {"x-amzn-errortype": "AccessDeniedException"},
    ),
    "tool_mismatch": (
        400,
        {"message": "Tool use and result mismatch.", "reason": "TOOL_USE_RESULT_MISMATCH"},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "tool_schema": (
        400,
        {"message": "Tool schema is invalid.", "reason": "TOOL_SCHEMA_INVALID"},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "tool_format": (
        400,
        {"message": "Invalid tool use format.", "reason": None},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "context_full": (
        400,
        {"message": "Context window is full. Start a new conversation.", "reason": None},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "signature": (
        400,
        {"message": "Invalid thinking signature.", "reason": "THINKING_SIGNATURE_INVALID"},
        {"x-amzn-errortype": "ValidationException"},
    ),
    "unknown_operation": (
        400,
        {
            "__type": "com.amazon.coral.service#UnknownOperationException",
            "message": "Unknown operation",
        },
        {"x-amzn-errortype": "UnknownOperationException"},
    ),
    "internal": (
        500,
        {
            "message": "Encountered an unexpected error when processing the request, "
            "please try again."
        },
        {"x-amzn-errortype": "InternalServerException"},
    ),
}
STATUS_ERRORS = {
    400: "malformed",
    402: "quota",
    403: "forbidden",
    429: "throttle",
    500: "internal",
}


SIMULATOR_NAME = "Kiro simulator"
FrameSpec = dict[str, Any]
_PREFIX_TAGS = re.compile(
    r"<(thinking_mode|max_thinking_length|thinking_effort)>.*?</\1>\s*", re.DOTALL
)


def request_text(state: dict[str, Any]) -> str:
    """All the text the request carries (messages, tool results, tool specs)."""
    parts: list[str] = []
    for _, msg in iter_messages(state):
        parts.append(str(msg.get("content", "")))
        for use in msg.get("toolUses") or []:
            parts.append(json.dumps(use.get("input", {})))
        context = msg.get("userInputMessageContext") or {}
        for result in context.get("toolResults") or []:
            parts.extend(_result_text(result))
        for tool in context.get("tools") or []:
            parts.append(json.dumps(tool))
    return "\n".join(parts)


def _result_text(result: dict[str, Any]) -> list[str]:
    texts = []
    for part in result.get("content") or []:
        if "text" in part:
            texts.append(str(part["text"]))
        elif "json" in part:
            texts.append(json.dumps(part["json"]))
    return texts


def signature_for(thinking: str) -> str:
    """The signature the simulated model gives a thinking text (checked when replayed)."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:16]


def thinking_requested(state: dict[str, Any]) -> bool:
    messages = iter_messages(state)
    first = str(messages[0][1].get("content", "")) if messages else ""
    return first.lstrip().startswith("<thinking_mode>") and "disabled" not in first[:40]


def reply_for(state: dict[str, Any]) -> Reply:
    current = state["currentMessage"]["userInputMessage"]
    context = current.get("userInputMessageContext") or {}
    tools = [t["toolSpecification"]["name"] for t in context.get("tools") or []]
    results: list[str] = []
    for result in context.get("toolResults") or []:
        results.append("\n".join(_result_text(result)))
    text = _PREFIX_TAGS.sub("", str(current.get("content", "")))
    return plan_reply(
        simulator=SIMULATOR_NAME, last_user_text=text, offered_tools=tools, tool_results=results
    )


def _event(kind: str, payload: dict[str, Any]) -> FrameSpec:
    return {"event": kind, "payload": payload}


def plan_frames(
    state: dict[str, Any],
    reply: Reply,
    *,
    native_reasoning: bool = False,
    exception: str | None = None,
    error_frame: bool = False,
    usage_events: bool = True,
    conversation_id: str = "",
    metadata_event: bool = True,
    stop_reason: str | None = None,
) -> list[FrameSpec]:
    """The frames of one answer; a complete one ends with the tail metadataEvent ->
    contextUsageEvent -> meteringEvent (the legacy hosts leave out metadataEvent)."""
    frames: list[FrameSpec] = [
        _event("messageMetadataEvent", {"conversationId": conversation_id, "utteranceId": "u1"})
    ]
    output = ""
    if reply.thinking:
        output += reply.thinking
        # [[think]] always starts the answer with thinking: as tags when the request turned
        # the tag emulation on, else through the service's native reasoning events.
        if native_reasoning or not thinking_requested(state):
            for piece in fragments(reply.thinking):
                frames.append(_event("reasoningContentEvent", {"text": piece}))
            frames.append(
                _event("reasoningContentEvent", {"signature": signature_for(reply.thinking)})
            )
        elif thinking_requested(state):
            # Tags split mid-word across events, the way the real model streams them.
            half = len(reply.thinking) // 2
            for piece in (
                "\n\n<think",
                "ing>\n" + reply.thinking[:half],
                reply.thinking[half:] + "</thinking>\n\n",
            ):
                frames.append(_event("assistantResponseEvent", {"content": piece}))
    if reply.text:
        output += reply.text
        for piece in fragments(reply.text):
            frames.append(_event("assistantResponseEvent", {"content": piece}))
    if reply.tool_call is not None:
        call = reply.tool_call
        tool_id = "tooluse_" + hashlib.sha256(json.dumps(call.arguments).encode()).hexdigest()[:12]
        arguments = json.dumps(call.arguments)
        output += arguments
        frames.append(_event("toolUseEvent", {"name": call.name, "toolUseId": tool_id}))
        for piece in fragments(arguments):
            frames.append(
                _event("toolUseEvent", {"input": piece, "name": call.name, "toolUseId": tool_id})
            )
        frames.append(
            _event("toolUseEvent", {"name": call.name, "stop": True, "toolUseId": tool_id})
        )
    if exception == "ContentLengthExceededException":
        frames.append({"exception": exception, "message": "Response exceeded the maximum length"})
    elif exception:
        frames.append(
            {
                "exception": exception,
                "message": "Too many requests, please wait before trying again.",
            }
        )
        return frames
    if error_frame:
        frames.append({"error": "InternalError", "message": "boom"})
        return frames
    if usage_events:
        input_tokens = count_tokens(request_text(state))
        output_tokens = count_tokens(output)
        percent = round(100.0 * (input_tokens + output_tokens) / CONTEXT_WINDOW, 4)
        usage = {
            "uncachedInputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 0,
        }
        stop = stop_reason or ("TOOL_USE" if reply.tool_call is not None else "END_TURN")
        if metadata_event:
            frames.append(_event("metadataEvent", {"tokenUsage": usage}))
            frames.append(_event("metadataEvent", {"stopReason": stop}))
        frames.append(_event("contextUsageEvent", {"contextUsagePercentage": percent}))
        frames.append(
            _event("meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": 0.0123})
        )
    return frames


def bad_signature(state: dict[str, Any]) -> bool:
    for role, message in iter_messages(state):
        reasoning = message.get("reasoningContent") if role == "assistantResponseMessage" else None
        text = (reasoning or {}).get("reasoningText") if isinstance(reasoning, dict) else None
        if isinstance(text, dict) and text.get("signature") != signature_for(str(text["text"])):
            return True
    return False
