"""The request rules the simulated CodeWhisperer enforces (kiro.md sections 4.3 and 10.1).

`check_request` returns the first violation as a sentence (for the simulator's log and the
tests), or None. The service itself only ever says "Improperly formed request."; the
simulator answers the same way so converter bugs surface exactly as they would upstream.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

__all__ = ["IMAGE_FORMATS", "MAX_DESCRIPTION", "MAX_TOOL_NAME", "check_request", "iter_messages"]

MAX_TOOL_NAME = 64
# No per-tool cap upstream (the context window limits it, kiro-2026.md section 8); this is
# the simulator's stand-in for "too big", well above what the gateway sends.
MAX_DESCRIPTION = 100_000
MAX_DOCUMENTS = 5
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ORIGINS = frozenset({"AI_EDITOR", "KIRO_CLI", "CLI", "IDE", "CHATBOT", "CONSOLE"})


def iter_messages(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """History items then the current message, as (role key, message) pairs."""
    items: list[tuple[str, dict[str, Any]]] = []
    for item in state.get("history") or []:
        if isinstance(item, dict) and len(item) == 1:
            key, value = next(iter(item.items()))
            items.append((key, value))
    current = state.get("currentMessage")
    if isinstance(current, dict) and isinstance(current.get("userInputMessage"), dict):
        items.append(("userInputMessage", current["userInputMessage"]))
    return items


def _has_empty_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k == "" or _has_empty_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_empty_key(v) for v in value)
    return False


def _check_user(msg: dict[str, Any], where: str, current: bool) -> str | None:
    content = msg.get("content")
    if not isinstance(content, str) or not content:
        return f"{where}: user content must be a non-empty string"
    if current and not isinstance(msg.get("modelId"), str):
        return f"{where}: modelId missing"
    if "origin" in msg and msg["origin"] not in _ORIGINS:
        return f"{where}: unknown origin {msg['origin']!r}"
    for image in msg.get("images") or []:
        if not isinstance(image, dict) or image.get("format") not in IMAGE_FORMATS:
            return f"{where}: image format must be one of {sorted(IMAGE_FORMATS)}"
        data = (image.get("source") or {}).get("bytes")
        if not isinstance(data, str) or not data:
            return f"{where}: image without bytes"
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return f"{where}: image bytes are not base64"
    documents = msg.get("documents")
    if documents is not None:
        if not current:
            return f"{where}: documents are only allowed on the current message"
        if not isinstance(documents, list) or len(documents) > MAX_DOCUMENTS:
            return f"{where}: at most {MAX_DOCUMENTS} documents"
        for document in documents:
            if not isinstance(document, dict) or document.get("format") != "pdf":
                return f"{where}: document format must be pdf"
            name = document.get("name")
            if not isinstance(name, str) or not name or "." in name:
                return f"{where}: document name must be non-empty, without an extension"
            data = (document.get("source") or {}).get("bytes")
            try:
                base64.b64decode(data or "", validate=True)
            except (binascii.Error, ValueError):
                return f"{where}: document bytes are not base64"
            if not data:
                return f"{where}: document without bytes"
    context = msg.get("userInputMessageContext") or {}
    if not isinstance(context, dict):
        return f"{where}: userInputMessageContext must be an object"
    if "tools" in context and not current:
        return f"{where}: tools are only allowed on the current message"
    for tool in context.get("tools") or []:
        spec = tool.get("toolSpecification") if isinstance(tool, dict) else None
        if not isinstance(spec, dict):
            return f"{where}: tool without toolSpecification"
        name = spec.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return f"{where}: tool name {name!r} does not match {TOOL_NAME.pattern}"
        description = spec.get("description")
        if not isinstance(description, str) or not description:
            return f"{where}: tool {name} needs a description"
        if len(description) > MAX_DESCRIPTION:
            return f"{where}: tool {name} description longer than {MAX_DESCRIPTION}"
        schema = (spec.get("inputSchema") or {}).get("json")
        if not isinstance(schema, dict) or not isinstance(schema.get("type", "object"), str):
            return f"{where}: tool {name} inputSchema.json must be an object schema"
        if any(v is None for v in schema.values()):
            return f"{where}: tool {name} schema has null values"
    for result in context.get("toolResults") or []:
        if not isinstance(result, dict) or not isinstance(result.get("toolUseId"), str):
            return f"{where}: tool result without toolUseId"
        if result.get("status", "success") not in ("success", "error"):
            return f"{where}: tool result status must be success or error"
        parts = result.get("content")
        if not isinstance(parts, list) or not parts:
            return f"{where}: tool result content must be a non-empty list"
        for part in parts:
            if not isinstance(part, dict) or not ({"text", "json"} & part.keys()):
                return f"{where}: tool result content parts are {{text}} or {{json}}"
            if "text" in part and not part["text"]:
                return f"{where}: empty tool result text"
    return None


def _check_assistant(msg: dict[str, Any], where: str) -> str | None:
    content = msg.get("content")
    if not isinstance(content, str) or not content:
        return f"{where}: assistant content must be a non-empty string"
    for use in msg.get("toolUses") or []:
        if not isinstance(use, dict) or not isinstance(use.get("toolUseId"), str):
            return f"{where}: tool use without toolUseId"
        name = use.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return f"{where}: tool use name {name!r} does not match {TOOL_NAME.pattern}"
        if not isinstance(use.get("input"), dict):
            return f"{where}: tool use input must be a JSON object"
        if _has_empty_key(use["input"]):
            return f"{where}: tool use input has an empty key"
    reasoning = msg.get("reasoningContent")
    if reasoning is not None:
        text = (reasoning.get("reasoningText") or {}) if isinstance(reasoning, dict) else None
        redacted = isinstance(reasoning, dict) and "redactedContent" in reasoning
        if not redacted and (not isinstance(text, dict) or not isinstance(text.get("text"), str)):
            return f"{where}: reasoningContent needs reasoningText.text or redactedContent"
    return None


def _check_pairing(items: list[tuple[str, dict[str, Any]]], tools: list[str]) -> str | None:
    """Tool results answer exactly the tool uses of the assistant item right before them."""
    pending: list[str] = []
    any_tool_content = False
    lowered = {t.lower() for t in tools}
    for position, (role, msg) in enumerate(items):
        if role == "assistantResponseMessage":
            if pending:
                return f"item {position}: tool uses {pending} never got results"
            uses = msg.get("toolUses") or []
            pending = [u["toolUseId"] for u in uses]
            for use in uses:
                any_tool_content = True
                if use["name"].lower() not in lowered:
                    return f"item {position}: tool use {use['name']!r} has no tool definition"
            continue
        context = msg.get("userInputMessageContext") or {}
        ids = [r["toolUseId"] for r in context.get("toolResults") or []]
        any_tool_content = any_tool_content or bool(ids)
        if len(set(ids)) != len(ids):
            return f"item {position}: duplicate tool results"
        if sorted(ids) != sorted(pending):
            return f"item {position}: tool results {ids} do not answer tool uses {pending}"
        pending = []
    if any_tool_content and not tools:
        return "tool uses or results without tool definitions"
    return None


def check_request(body: Any) -> str | None:
    """The first rule `body` breaks, or None when the service would accept it."""
    if not isinstance(body, dict) or not isinstance(body.get("conversationState"), dict):
        return "conversationState missing"
    state = body["conversationState"]
    if state.get("chatTriggerType") != "MANUAL":
        return "chatTriggerType must be MANUAL"
    try:
        uuid.UUID(str(state.get("conversationId")))
    except ValueError:
        return "conversationId must be a UUID"
    current = state.get("currentMessage")
    if not isinstance(current, dict) or list(current) != ["userInputMessage"]:
        return "currentMessage must hold exactly userInputMessage"
    history = state.get("history")
    if history is not None:
        if not isinstance(history, list) or not history:
            return "history must be a non-empty list when present"
        for position, item in enumerate(history):
            if not isinstance(item, dict) or len(item) != 1:
                return f"history[{position}] must hold exactly one message"
            role = next(iter(item))
            expected = "userInputMessage" if position % 2 == 0 else "assistantResponseMessage"
            if role != expected:
                return f"history[{position}] must be {expected} (alternating, user first)"
            if not isinstance(item[role], dict):
                return f"history[{position}] must be an object"
        if len(history) % 2:
            return "history must end with an assistant message"
    items = iter_messages(state)
    for position, (role, msg) in enumerate(items):
        is_current = position == len(items) - 1
        where = "currentMessage" if is_current else f"history[{position}]"
        problem = (
            _check_user(msg, where, is_current)
            if role == "userInputMessage"
            else _check_assistant(msg, where)
        )
        if problem:
            return problem
    context = current["userInputMessage"].get("userInputMessageContext") or {}
    tools = [t["toolSpecification"]["name"] for t in context.get("tools") or []]
    return _check_pairing(items, tools)
