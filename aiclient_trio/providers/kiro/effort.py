"""Thinking for Kiro: effort fields from each model's schema, or the `<thinking_mode>` tags.

Models whose ListAvailableModels entry carries an `additionalModelRequestFieldsSchema` take
their effort in the body's `additionalModelRequestFields` (kiro-2026.md section 6: Claude
`{thinking: {type}, output_config: {effort}}`, GPT `{reasoning: {effort}}`); the others get
the tag emulation of kiro.md rule 13.
"""

from __future__ import annotations

from typing import Any

from aiclient_trio import ir

__all__ = ["THINKING_DEFAULT", "effort_fields", "thinking_prefix"]

THINKING_MIN, THINKING_MAX, THINKING_DEFAULT = 1024, 24_576, 16_000


def thinking_prefix(thinking: ir.ThinkingConfig | None) -> str:
    if thinking is None or thinking.type == "disabled":
        return ""
    if thinking.type == "adaptive":
        effort = thinking.effort if thinking.effort in ("low", "medium", "high") else "high"
        return f"<thinking_mode>adaptive</thinking_mode><thinking_effort>{effort}</thinking_effort>"
    budget = thinking.budget_tokens or THINKING_DEFAULT
    budget = max(THINKING_MIN, min(THINKING_MAX, budget))
    return (
        f"<thinking_mode>enabled</thinking_mode><max_thinking_length>{budget}</max_thinking_length>"
    )


_EFFORT_BY_BUDGET = ((4_096, "low"), (16_000, "medium"))


def _effort(thinking: ir.ThinkingConfig) -> str:
    if thinking.effort:
        return thinking.effort
    budget = thinking.budget_tokens or THINKING_DEFAULT
    return next((name for limit, name in _EFFORT_BY_BUDGET if budget <= limit), "high")


def _allowed(schema: dict[str, Any], *path: str) -> list[Any] | None:
    """The enum at `path` in the model's schema (None: the schema has no such field)."""
    node: Any = schema
    for key in path:
        node = (node.get("properties") or {}).get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    values = node.get("enum") if isinstance(node, dict) else None
    return list(values) if isinstance(values, list) else []


def _pick(value: str, allowed: list[Any]) -> str | None:
    if not allowed or value in allowed:
        return value
    order = ["low", "medium", "high", "max"]
    if value in order:  # the nearest level the model takes, downwards first
        for candidate in reversed(order[: order.index(value) + 1]):
            if candidate in allowed:
                return candidate
    return str(allowed[-1]) if allowed else None


def effort_fields(
    thinking: ir.ThinkingConfig | None, schema: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`additionalModelRequestFields` for the model's schema (kiro-2026.md section 6):
    Claude `{thinking: {type}, output_config: {effort}}`, GPT `{reasoning: {effort}}`.
    Only values the schema allows; None when the model takes no such fields."""
    if schema is None:
        return None
    on = thinking is not None and thinking.type != "disabled"
    fields: dict[str, Any] = {}
    types = _allowed(schema, "thinking", "type")
    if types is not None:
        wanted = "adaptive" if on else "disabled"
        if not types or wanted in types:
            fields["thinking"] = {"type": wanted}
    # Claude's effort goes with its thinking field; GPT's stands alone.
    for key in ("output_config", "reasoning") if types is not None else ("reasoning",):
        efforts = _allowed(schema, key, "effort")
        if on and thinking is not None and efforts is not None:
            effort = _pick(_effort(thinking), efforts)
            if effort:
                fields[key] = {"effort": effort}
    return fields or None
