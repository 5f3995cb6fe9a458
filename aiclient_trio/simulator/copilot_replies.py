"""What the simulated Copilot models say, in each of CAPI's three wire shapes.

Reads the scripted turn out of a request body (any format) and renders the planned reply as
Copilot does, quirks included (F4-F8, F11, F12 of docs/copilot.md §9). Pure data, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiclient_trio.simulator.script import Reply, count_tokens, fragments, plan_reply

__all__ = [
    "Turn",
    "call_id",
    "chat_body",
    "chat_chunks",
    "messages_body",
    "messages_events",
    "out_tokens",
    "read_turn",
]

SIMULATOR = "Copilot simulator"


@dataclass(frozen=True, slots=True)
class Turn:
    reply: Reply
    prompt_tokens: int  # all of the prompt, cached parts included
    cache_read: int = 0
    cache_write: int = 0

    @property
    def fresh_tokens(self) -> int:
        """Prompt tokens neither read from nor written to the cache (Anthropic's input)."""
        return self.prompt_tokens - self.cache_read - self.cache_write


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def _chat_turn(body: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    # Tool results of the current turn: the tool messages after the last assistant message
    # (a client may append its own user text after them).
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "assistant":
            break
        if message.get("role") == "tool":
            results.insert(0, _text_of(message.get("content")))
    text = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    tools = [
        str((t.get("function") or {}).get("name"))
        for t in body.get("tools") or []
        if isinstance(t, dict)
    ]
    return text, tools, results


def _anthropic_turn(body: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    results: list[str] = []
    text = ""
    if messages and messages[-1].get("role") == "user":
        content = messages[-1].get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                results.append(_text_of(block.get("content")))
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
            text = _text_of(content)
            if text:
                break
    tools = [str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)]
    return text, tools, results


_CALL_ITEMS = ("function_call", "custom_tool_call")
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")


def _responses_turn(body: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = [i for i in items or [] if isinstance(i, dict)]
    results: list[str] = []
    for item in reversed(items):
        if item.get("role") == "assistant" or item.get("type") in _CALL_ITEMS:
            break
        if item.get("type") not in _OUTPUT_ITEMS:
            continue
        output = item.get("output")
        results.insert(0, output if isinstance(output, str) else _text_of(output))
    text = next(
        (_text_of(i.get("content")) for i in reversed(items) if i.get("role") == "user"), ""
    )
    tools = [str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)]
    return text, tools, results


def read_turn(endpoint: str, body: dict[str, Any]) -> Turn:
    """The scripted reply to `body` posted on `endpoint`, and the request's token count."""
    reader = {"/v1/messages": _anthropic_turn, "/responses": _responses_turn}.get(
        endpoint, _chat_turn
    )
    text, tools, results = reader(body)
    reply = plan_reply(
        simulator=SIMULATOR, last_user_text=text, offered_tools=tools, tool_results=results
    )
    # Like the real service, the prompt is counted without the transport flags: the same
    # question costs the same whether the answer streams or not.
    prompt = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return Turn(reply, count_tokens(json.dumps(prompt)))


def out_tokens(reply: Reply) -> int:
    parts = [reply.text or "", reply.thinking or ""]
    if reply.tool_call:
        parts.append(json.dumps(reply.tool_call.arguments))
    return count_tokens("".join(parts))


def call_id(kind: str) -> str:
    return "toolu_sim1" if kind == "anthropic" else "call_sim1"


# --------------------------------------------------------------------------- /chat/completions


def chat_chunks(turn: Turn, model: str, *, claude: bool) -> list[dict[str, Any]]:
    """Stream chunks: an empty first chunk, deltas, finish, usage (trailing for Claude)."""
    reply, cid = turn.reply, "chatcmpl-sim1"
    chunks: list[dict[str, Any]] = [
        {
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        }
    ]

    def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
        }

    first = True
    if reply.thinking:
        for piece in fragments(reply.thinking):
            d = {"reasoning_text": piece}
            if first:
                d["role"], first = "assistant", False
            chunks.append(delta(d))
        chunks.append(delta({"content": "", "reasoning_opaque": "sig-sim-opaque"}))
    for piece in fragments(reply.text or ""):
        d = {"content": piece}
        if first:
            d["role"], first = "assistant", False
        chunks.append(delta(d))
    if reply.tool_call:
        args = json.dumps(reply.tool_call.arguments)
        head = {"index": 0, "id": call_id("chat"), "type": "function"}
        chunks.append(
            delta(
                {
                    "tool_calls": [
                        {**head, "function": {"name": reply.tool_call.name, "arguments": ""}}
                    ]
                }
            )
        )
        for piece in fragments(args, 2):
            chunks.append(delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    usage = {
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": out_tokens(reply),
        "total_tokens": turn.prompt_tokens + out_tokens(reply),
        "prompt_tokens_details": {"cached_tokens": turn.cache_read},
    }
    finish = delta({}, "tool_calls" if reply.tool_call else "stop")
    if claude:
        chunks.append(finish)
        chunks.append(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    else:
        finish["usage"] = usage
        chunks.append(finish)
    return chunks


def chat_body(turn: Turn, model: str, *, claude: bool) -> dict[str, Any]:
    """Non-stream answer; Claude models split text and tool calls across two choices (F5)."""
    reply = turn.reply
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.thinking:
        message["reasoning_text"] = reply.thinking
        message["reasoning_opaque"] = "sig-sim-opaque"
    call = None
    if reply.tool_call:
        call = {
            "id": call_id("chat"),
            "type": "function",
            "function": {
                "name": reply.tool_call.name,
                "arguments": json.dumps(reply.tool_call.arguments),
            },
        }
    choices: list[dict[str, Any]]
    if call and claude:
        choices = [
            {"index": 0, "message": message, "finish_reason": "stop"},
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            },
        ]
    else:
        if call:
            message["tool_calls"] = [call]
        choices = [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}
        ]
    out = out_tokens(reply)
    return {
        "id": "chatcmpl-sim1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": turn.prompt_tokens,
            "completion_tokens": out,
            "total_tokens": turn.prompt_tokens + out,
            "prompt_tokens_details": {"cached_tokens": turn.cache_read},
        },
    }


# --------------------------------------------------------------------------- /v1/messages


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking:
        blocks.append(
            {"type": "thinking", "thinking": reply.thinking, "signature": "sig-sim-anthropic"}
        )
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    if reply.tool_call:
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id("anthropic"),
                "name": reply.tool_call.name,
                "input": reply.tool_call.arguments,
            }
        )
    return blocks


def messages_body(turn: Turn, model: str) -> dict[str, Any]:
    reply = turn.reply
    return {
        "id": "msg_sim1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(reply),
        "stop_reason": "tool_use" if reply.tool_call else "end_turn",
        "stop_sequence": None,
        "usage": _messages_usage(turn, out_tokens(reply)),
    }


def _messages_usage(turn: Turn, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": turn.fresh_tokens,
        "cache_read_input_tokens": turn.cache_read,
        "cache_creation_input_tokens": turn.cache_write,
        "output_tokens": output_tokens,
    }


def messages_events(turn: Turn, model: str) -> list[tuple[str, dict[str, Any]]]:
    reply = turn.reply
    start = messages_body(turn, model) | {"content": [], "stop_reason": None}
    start["usage"] = _messages_usage(turn, 1)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(_anthropic_blocks(reply)):
        kind = block["type"]
        if kind == "thinking":
            opened: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": p} for p in fragments(block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            opened = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in fragments(block["text"])]
        else:
            opened = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in fragments(json.dumps(block["input"]), 2)
            ]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if reply.tool_call else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": out_tokens(reply)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events
