"""The simulated Copilot `/responses` answers: the output items and the canonical event order.

F12 of the reference: reasoning, message and function_call items (custom_tool_call for tools
offered as `custom`, like Codex's apply_patch); streamed events each carry a growing
`sequence_number` and the stream ends with `response.completed`.
"""

from __future__ import annotations

import json
from typing import Any

from aiclient_trio.simulator.copilot_replies import Turn, call_id, out_tokens
from aiclient_trio.simulator.script import Reply, fragments

__all__ = ["custom_tool_names", "responses_body", "responses_events"]


def custom_tool_names(body: dict[str, Any]) -> frozenset[str]:
    """Names of the request's freeform (`custom`) tools: their calls carry a raw `input`."""
    return frozenset(
        str(t.get("name"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "custom"
    )


def _custom_input(arguments: dict[str, Any]) -> str:
    """`[[call apply_patch {"input": "..."}]]` sends that string; other arguments go as JSON."""
    value = arguments.get("input")
    if len(arguments) == 1 and isinstance(value, str):
        return value
    return json.dumps(arguments)


def _response_items(reply: Reply, custom: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.thinking:
        items.append(
            {
                "type": "reasoning",
                "id": "rs_sim1",
                "summary": [{"type": "summary_text", "text": reply.thinking}],
                "encrypted_content": "enc-sim",
            }
        )
    if reply.text:
        items.append(
            {
                "type": "message",
                "id": "msg_sim1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    if reply.tool_call and reply.tool_call.name in custom:
        items.append(
            {
                "type": "custom_tool_call",
                "id": "ctc_sim1",
                "call_id": call_id("responses"),
                "name": reply.tool_call.name,
                "input": _custom_input(reply.tool_call.arguments),
                "status": "completed",
            }
        )
    elif reply.tool_call:
        items.append(
            {
                "type": "function_call",
                "id": "fc_sim1",
                "call_id": call_id("responses"),
                "name": reply.tool_call.name,
                "arguments": json.dumps(reply.tool_call.arguments),
                "status": "completed",
            }
        )
    return items


def responses_body(
    turn: Turn, model: str, status: str = "completed", custom: frozenset[str] = frozenset()
) -> dict[str, Any]:
    out = out_tokens(turn.reply)
    return {
        "id": "resp_sim1",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": model,
        "output": _response_items(turn.reply, custom) if status == "completed" else [],
        "usage": {
            "input_tokens": turn.prompt_tokens,
            "input_tokens_details": {"cached_tokens": turn.cache_read},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.prompt_tokens + out,
        }
        if status == "completed"
        else None,
    }


def responses_events(
    turn: Turn, model: str, custom: frozenset[str] = frozenset()
) -> list[tuple[str, dict[str, Any]]]:
    """The canonical event order, each with a growing `sequence_number`."""
    raw: list[tuple[str, dict[str, Any]]] = []
    pending = responses_body(turn, model, "in_progress")
    raw.append(("response.created", {"response": pending}))
    raw.append(("response.in_progress", {"response": pending}))
    for index, item in enumerate(_response_items(turn.reply, custom)):
        kind = item["type"]
        if kind == "reasoning":
            raw.append(
                (
                    "response.output_item.added",
                    {"output_index": index, "item": item | {"summary": []}},
                )
            )
            raw.append(
                (
                    "response.reasoning_summary_part.added",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""},
                    },
                )
            )
            text = item["summary"][0]["text"]
            for piece in fragments(text):
                raw.append(
                    (
                        "response.reasoning_summary_text.delta",
                        {
                            "output_index": index,
                            "item_id": item["id"],
                            "summary_index": 0,
                            "delta": piece,
                        },
                    )
                )
            raw.append(
                (
                    "response.reasoning_summary_text.done",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "summary_index": 0,
                        "text": text,
                    },
                )
            )
            raw.append(
                (
                    "response.reasoning_summary_part.done",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "summary_index": 0,
                        "part": {"type": "summary_text", "text": text},
                    },
                )
            )
        elif kind == "message":
            text = item["content"][0]["text"]
            raw.append(
                (
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": item | {"status": "in_progress", "content": []},
                    },
                )
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            raw.append(
                (
                    "response.content_part.added",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "content_index": 0,
                        "part": part,
                    },
                )
            )
            for piece in fragments(text):
                raw.append(
                    (
                        "response.output_text.delta",
                        {
                            "output_index": index,
                            "item_id": item["id"],
                            "content_index": 0,
                            "delta": piece,
                        },
                    )
                )
            raw.append(
                (
                    "response.output_text.done",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "content_index": 0,
                        "text": text,
                    },
                )
            )
            raw.append(
                (
                    "response.content_part.done",
                    {
                        "output_index": index,
                        "item_id": item["id"],
                        "content_index": 0,
                        "part": part | {"text": text},
                    },
                )
            )
        else:  # a call: its argument text (a custom tool's raw input) arrives in pieces
            field, event = (
                ("input", "response.custom_tool_call_input")
                if kind == "custom_tool_call"
                else ("arguments", "response.function_call_arguments")
            )
            started = item | {field: "", "status": "in_progress"}
            raw.append(("response.output_item.added", {"output_index": index, "item": started}))
            for piece in fragments(item[field], 2):
                raw.append(
                    (
                        f"{event}.delta",
                        {"output_index": index, "item_id": item["id"], "delta": piece},
                    )
                )
            raw.append(
                (
                    f"{event}.done",
                    {"output_index": index, "item_id": item["id"], field: item[field]},
                )
            )
        raw.append(("response.output_item.done", {"output_index": index, "item": item}))
    raw.append(("response.completed", {"response": responses_body(turn, model, custom=custom)}))
    return [
        (name, {"type": name, "sequence_number": n} | data) for n, (name, data) in enumerate(raw)
    ]
