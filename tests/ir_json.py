"""IR built from the plain JSON of the format tests' fixture files (one reading for all
three wire formats: Anthropic, OpenAI chat, Responses)."""

from __future__ import annotations

from typing import Any

from aiclient_trio import ir

_BLOCKS: dict[str, Any] = {
    "text": ir.TextBlock,
    "image": ir.ImageBlock,
    "tool_use": ir.ToolUseBlock,
    "tool_result": ir.ToolResultBlock,
    "thinking": ir.ThinkingBlock,
    "redacted_thinking": ir.RedactedThinkingBlock,
}


def block_from(data: dict[str, Any]) -> Any:
    """A content block from `{"type": ..., **fields}`; a tool result's content recursively."""
    fields = dict(data)
    cls = _BLOCKS[fields.pop("type")]
    if cls is ir.ToolResultBlock:
        fields["content"] = tuple(block_from(b) for b in fields.get("content", ()))
    return cls(**fields)


def request_from(data: dict[str, Any]) -> ir.Request:
    """An `ir.Request` from its fields; the nested ones (messages, system, tools, stop
    sequences, tool choice, thinking, leftovers, dropped) become their IR types."""
    fields = dict(data)
    fields["messages"] = tuple(
        ir.Message(m["role"], tuple(block_from(b) for b in m["content"])) for m in data["messages"]
    )
    fields["system"] = tuple(block_from(b) for b in data.get("system", ()))
    fields["tools"] = tuple(ir.Tool(**t) for t in data.get("tools", ()))
    fields["stop_sequences"] = tuple(data.get("stop_sequences", ()))
    if data.get("tool_choice") is not None:
        fields["tool_choice"] = ir.ToolChoice(**data["tool_choice"])
    if data.get("thinking") is not None:
        fields["thinking"] = ir.ThinkingConfig(**data["thinking"])
    if data.get("leftovers") is not None:
        fields["leftovers"] = ir.Leftovers(**data["leftovers"])
    if "dropped" in data:
        fields["dropped"] = ir.Dropped(**{k: tuple(v) for k, v in data["dropped"].items()})
    return ir.Request(**fields)
