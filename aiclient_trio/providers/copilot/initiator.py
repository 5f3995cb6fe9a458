"""Billing and vision facts read from an inbound request: X-Initiator and image presence.

X-Initiator decides whether a call costs a premium request (docs/copilot.md §3.1), so the
rules are applied to the client's own shape, one function per wire format, all tested.
"""

from __future__ import annotations

from typing import Any, Literal

from aiclient_trio import ir
from aiclient_trio.providers.base import ModelInfo

__all__ = [
    "Initiator",
    "has_image",
    "initiator_for",
    "initiator_for_anthropic",
    "initiator_for_chat",
    "initiator_for_ir",
    "initiator_for_responses",
    "is_annotation_text",
    "is_warmup_probe",
    "premium_cost",
]

Initiator = Literal["user", "agent"]


def is_annotation_text(text: str) -> bool:
    """Text a client appends next to tool results on its own (not typed by the user).

    Claude Code adds `<system-reminder>`, hook output and similar tagged blocks beside
    `tool_result` blocks; such a turn is still an agent continuation. Our rule: a text
    block that is empty or starts with an XML-like tag is an annotation; any other text is
    a fresh user message and makes the turn a user turn.
    """
    stripped = text.lstrip()
    return not stripped or (stripped.startswith("<") and ">" in stripped)


def is_warmup_probe(texts: list[str]) -> bool:
    """Claude Code (>= 2.0.28) sends a "Warmup" probe at start-up: background, not a user turn."""
    return [t.strip() for t in texts if t.strip()] == ["Warmup"]


def initiator_for_chat(body: dict[str, Any]) -> Initiator:
    """Chat Completions: the last message decides; assistant or tool last -> agent."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return "user"
    return "agent" if messages[-1].get("role") in ("assistant", "tool") else "user"


def _anthropic_user_turn_is_agent(content: Any) -> bool:
    if not isinstance(content, list) or not content:
        return False
    saw_result = False
    for block in content:
        if not isinstance(block, dict):
            return False
        kind = block.get("type")
        if kind == "tool_result":
            saw_result = True
        elif kind == "text" and is_annotation_text(str(block.get("text", ""))):
            continue
        else:
            return False
    return saw_result


def initiator_for_anthropic(body: dict[str, Any]) -> Initiator:
    """Messages: last not user -> agent; a user turn of tool results (+ annotations) -> agent."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return "user"
    last = messages[-1]
    if last.get("role") != "user":
        return "agent"
    content = last.get("content")
    if isinstance(content, str):
        texts = [content]
    elif isinstance(content, list):
        texts = [str(b.get("text", "")) for b in content if isinstance(b, dict)]
    else:
        texts = []
    if len(messages) == 1 and is_warmup_probe(texts):
        return "agent"
    return "agent" if _anthropic_user_turn_is_agent(content) else "user"


def initiator_for_responses(body: dict[str, Any]) -> Initiator:
    """Responses: last input item without a role (function_call_output...) or assistant -> agent."""
    items = body.get("input")
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return "user"
    role = items[-1].get("role")
    return "agent" if role is None or role == "assistant" else "user"


def initiator_for_ir(request: ir.Request) -> Initiator:
    """The same last-turn rule on the IR (tool results live in user turns there)."""
    if not request.messages:
        return "user"
    last = request.messages[-1]
    if last.role != "user":
        return "agent"
    texts = [b.text for b in last.content if isinstance(b, ir.TextBlock)]
    if len(request.messages) == 1 and len(texts) == len(last.content) and is_warmup_probe(texts):
        return "agent"
    saw_result = False
    for block in last.content:
        if isinstance(block, ir.ToolResultBlock):
            saw_result = True
        elif isinstance(block, ir.TextBlock) and is_annotation_text(block.text):
            continue
        else:
            return "user"
    return "agent" if saw_result else "user"


def initiator_for(fmt: ir.WireFormat, body: dict[str, Any]) -> Initiator:
    if fmt == "anthropic":
        return initiator_for_anthropic(body)
    if fmt == "responses":
        return initiator_for_responses(body)
    return initiator_for_chat(body)


_IMAGE_PART_TYPES = frozenset({"image", "image_url", "input_image"})


def has_image(value: Any) -> bool:
    """True when any content part anywhere in the history is an image (any of the formats).

    Walks messages / input items and nested tool results; the part types differ per format
    (`image_url`, `image`, `input_image`) but never collide with non-image meanings.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") in _IMAGE_PART_TYPES:
                return True
            for key in ("messages", "input", "content", "output"):
                child = item.get(key)
                if isinstance(child, list):
                    stack.extend(child)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def premium_cost(initiator: str | None, model: ModelInfo) -> float:
    """Premium requests one call costs: the model's multiplier for a user turn (1 when the
    upstream lists none), nothing for agent turns or included (0x) models."""
    if initiator != "user":
        return 0.0
    return 1.0 if model.premium_multiplier is None else model.premium_multiplier
