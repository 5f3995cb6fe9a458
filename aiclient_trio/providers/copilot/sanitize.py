"""Bodies adjusted for what Copilot accepts (docs/copilot.md §4.3, §8): pure functions.

Applied to native (passthrough) bodies and to rendered translation bodies alike: the model
renamed, `max_tokens` renamed for gpt-5*/o*, Responses stateless, Anthropic extras removed.
"""

from __future__ import annotations

import copy
from typing import Any

from aiclient_trio import ir
from aiclient_trio.providers.copilot.models import needs_max_completion_tokens

__all__ = ["add_reasoning_content", "carry_cache_hints", "merge_split_choices", "prepare_body"]

# Anthropic allows at most four cache breakpoints; Copilot's chat endpoint takes the same.
MAX_CACHE_BREAKPOINTS = 4

# Tool fields Copilot's /v1/messages rejects ("Extra inputs are not permitted").
_EXTRA_TOOL_FIELDS = ("eager_input_streaming",)
# Anthropic server tools Copilot cannot run (they answer `unsupported_value`).
_SERVER_TOOL_PREFIXES = (
    "web_search",
    "web_fetch",
    "code_execution",
    "computer",
    "text_editor",
    "bash",
)


def _strip_cache_scope(value: Any) -> None:
    """Remove `cache_control.scope` anywhere (a newer beta field Copilot rejects)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            control = item.get("cache_control")
            if isinstance(control, dict):
                control.pop("scope", None)
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def _fold_system_messages(body: dict[str, Any]) -> None:
    """Move `role: "system"` entries of `messages` (Claude Code's mid-conversation system
    beta) to the end of the top-level `system`: Copilot wants the last message from the user."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    extra: list[Any] = []
    kept: list[Any] = []
    for message in messages:
        if not (isinstance(message, dict) and message.get("role") in ("system", "developer")):
            kept.append(message)
            continue
        content = message.get("content")
        if isinstance(content, str) and content:
            extra.append({"type": "text", "text": content})
        elif isinstance(content, list):
            extra.extend(b for b in content if isinstance(b, dict) and b.get("type") == "text")
    if len(kept) == len(messages):
        return
    system = body.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}] if system else []
    body["system"] = [*(system if isinstance(system, list) else []), *extra]
    body["messages"] = kept


def _anthropic(body: dict[str, Any]) -> None:
    _fold_system_messages(body)
    if body.get("temperature") is not None and body.get("top_p") is not None:
        body.pop("top_p")  # newer Claude models refuse both together; temperature wins
    body.pop("cache_control", None)  # top-level cache_control is refused on 4.5-class models
    _strip_cache_scope(body.get("system"))
    _strip_cache_scope(body.get("messages"))
    tools = body.get("tools")
    if isinstance(tools, list):
        kept = []
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            kind = str(tool.get("type") or "")
            if kind and kind != "custom" and kind.startswith(_SERVER_TOOL_PREFIXES):
                continue
            for extra in _EXTRA_TOOL_FIELDS:
                tool.pop(extra, None)
            _strip_cache_scope(tool)
            kept.append(tool)
        if kept:
            body["tools"] = kept
        else:
            body.pop("tools", None)
            body.pop("tool_choice", None)
    # Thinking blocks without a signature cannot be verified upstream: drop them.
    for message in body.get("messages") or []:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            message["content"] = [
                block
                for block in message["content"]
                if not (
                    isinstance(block, dict)
                    and block.get("type") == "thinking"
                    and not block.get("signature")
                )
            ]


_OUTPUT_LIMIT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def prepare_body(
    fmt: ir.WireFormat, body: dict[str, Any], model_id: str, max_output: int | None = None
) -> dict[str, Any]:
    """A copy of `body` ready for Copilot's endpoint of format `fmt` and model `model_id`.

    An output limit above the model's `max_output` is clamped (Copilot refuses it outright).
    """
    # Only the Anthropic path edits nested values; the others need a shallow copy.
    out = copy.deepcopy(body) if fmt == "anthropic" else dict(body)
    out["model"] = model_id
    if max_output:
        for key in _OUTPUT_LIMIT_KEYS:
            value = out.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > max_output:
                out[key] = max_output
    if fmt == "openai_chat":
        if needs_max_completion_tokens(model_id) and "max_tokens" in out:
            value = out.pop("max_tokens")
            out.setdefault("max_completion_tokens", value)
    elif fmt == "responses":
        # Copilot keeps no stored conversations: store:false, with previous_response_id
        # (the last response.completed id) relayed as the official client sends it.
        out["store"] = False
        out.pop("service_tier", None)
    else:
        _anthropic(out)
    return out


def carry_cache_hints(fmt: ir.WireFormat, rendered: dict[str, Any], request: ir.Request) -> None:
    """Prompt-cache hints a translation would lose: the client's `prompt_cache_key`, and its
    Anthropic `cache_control` breakpoints as `copilot_cache_control` on the chat messages
    that end at them (the last four)."""
    key = request.prompt_cache_key
    if key and fmt in ("openai_chat", "responses"):
        rendered.setdefault("prompt_cache_key", key)
    if fmt != "openai_chat":
        return
    marked = [b.text for b in request.system if b.cache_control and b.text]
    for message in request.messages:
        marked += [
            b.text
            for b in message.content
            if isinstance(b, ir.TextBlock) and b.cache_control and b.text
        ]
    if not marked:
        return
    hits = []
    for message in rendered.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str) and any(content.endswith(text) for text in marked):
            hits.append(message)
    for message in hits[-MAX_CACHE_BREAKPOINTS:]:
        message["copilot_cache_control"] = {"type": "ephemeral"}


def merge_split_choices(body: dict[str, Any]) -> dict[str, Any]:
    """One choice from a non-stream answer Copilot split across choices (Claude, F5).

    Claude models put the text in `choices[0]` and the tool calls in `choices[1]`; OpenAI
    clients read only the first choice, so the tool calls would be lost. Only answers whose
    choices are all index-distinct single-message parts of one reply are merged.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        return body
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return body
    texts: list[str] = []
    calls: list[Any] = []
    merged: dict[str, Any] = {"role": "assistant"}
    finish = None
    for choice in choices:
        message = choice["message"]
        if isinstance(message.get("content"), str) and message["content"]:
            texts.append(message["content"])
        calls.extend(message.get("tool_calls") or [])
        for key in ("reasoning_text", "reasoning_opaque"):
            if message.get(key) and key not in merged:
                merged[key] = message[key]
        if choice.get("finish_reason") == "tool_calls" or finish is None:
            finish = choice.get("finish_reason")
    merged["content"] = "".join(texts) or None
    if calls:
        merged["tool_calls"] = calls
    first = dict(choices[0])
    first.update({"index": 0, "message": merged, "finish_reason": finish})
    return {**body, "choices": [first]}


def add_reasoning_content(data: Any) -> bool:
    """Copilot's chat answers carry reasoning as `reasoning_text` (with `reasoning_opaque`);
    OpenAI-compatible clients (the Vercel AI SDK among them) read `reasoning_content`. Add
    it beside Copilot's own field in every choice's `delta` or `message` of a chunk or body
    (`data`, parsed JSON). Returns whether anything was added."""
    choices = data.get("choices") if isinstance(data, dict) else None
    added = False
    for choice in choices if isinstance(choices, list) else ():
        for key in ("delta", "message"):
            part = choice.get(key) if isinstance(choice, dict) else None
            if isinstance(part, dict) and "reasoning_content" not in part:
                text = part.get("reasoning_text")
                if isinstance(text, str):
                    part["reasoning_content"] = text
                    added = True
    return added
