"""IR request -> CodeWhisperer `generateAssistantResponse` body (kiro.md section 4.3).

The service answers "Improperly formed request." to almost any irregularity, so the
conversion normalises defensively: alternating history, no empty content, paired tool
uses and results, tools only on the current message. Choices are documented in docs/kiro.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import ContextLengthExceeded, InvalidRequest
from aiclient_trio.providers.kiro.tools import ToolNames, drop_empty_keys, tool_spec

__all__ = ["KiroRequest", "build_request", "thinking_prefix"]

ORIGIN = "AI_EDITOR"
EMPTY = "(empty)"
CONTINUE = "Continue"
TOOL_RESULTS_ONLY = "Tool results provided."
EMPTY_RESULT = "(empty result)"
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
# Images survive in the current message and this many most recent history messages.
IMAGE_HISTORY = 5
THINKING_MIN, THINKING_MAX, THINKING_DEFAULT = 1024, 24_576, 16_000


@dataclass(frozen=True, slots=True)
class KiroRequest:
    body: dict[str, Any]
    encoded: bytes
    tool_names: ToolNames
    thinking: bool  # tag-emulated thinking was requested: parse <thinking> in the answer
    model_id: str


@dataclass(slots=True)
class _User:
    text: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    results: list[ir.ToolResultBlock] = field(default_factory=list)


@dataclass(slots=True)
class _Assistant:
    text: list[str] = field(default_factory=list)
    uses: list[ir.ToolUseBlock] = field(default_factory=list)


_Turn = _User | _Assistant


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


def _image(block: ir.ImageBlock) -> dict[str, Any]:
    media_type, data = block.media_type, block.data
    if block.url is not None:
        if not block.url.startswith("data:"):
            raise InvalidRequest(
                "Kiro accepts only inline base64 images, not image URLs", param="messages"
            )
        header, _, data = block.url.partition(",")
        media_type = header[5:].split(";")[0]
    if data and data.startswith("data:"):
        header, _, data = data.partition(",")
        media_type = media_type or header[5:].split(";")[0]
    subtype = (media_type or "image/png").split("/")[-1].lower()
    if subtype not in IMAGE_FORMATS:
        raise InvalidRequest(
            f"Kiro accepts png, jpeg, gif and webp images, not {media_type}", param="messages"
        )
    try:
        base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("image data is not valid base64", param="messages") from None
    if not data:
        raise InvalidRequest("image without data", param="messages")
    return {"format": IMAGE_FORMATS[subtype], "source": {"bytes": data}}


def _turns(request: ir.Request, textify_tools: bool) -> list[_Turn]:
    """IR messages as turns, adjacent same-role messages merged."""
    thinking_on = bool(thinking_prefix(request.thinking))
    turns: list[_Turn] = []
    for message in request.messages:
        turn: _Turn
        if message.role == "user":
            if turns and isinstance(turns[-1], _User):
                turn = turns[-1]
            else:
                turn = _User()
                turns.append(turn)
        elif turns and isinstance(turns[-1], _Assistant):
            turn = turns[-1]
        else:
            turn = _Assistant()
            turns.append(turn)
        for block in message.content:
            if isinstance(block, ir.TextBlock):
                if block.text:
                    turn.text.append(block.text)
            elif isinstance(block, ir.ImageBlock) and isinstance(turn, _User):
                turn.images.append(_image(block))
            elif isinstance(block, ir.ToolResultBlock) and isinstance(turn, _User):
                if textify_tools:
                    turn.text.append(f"[Tool result {block.tool_use_id}]\n{block.text}")
                else:
                    turn.results.append(block)
                turn.images.extend(_image(b) for b in block.content if isinstance(b, ir.ImageBlock))
            elif isinstance(block, ir.ToolUseBlock) and isinstance(turn, _Assistant):
                if textify_tools:
                    arguments = json.dumps(block.input, ensure_ascii=False)
                    turn.text.append(f"[Tool call {block.name} {block.id}]\n{arguments}")
                else:
                    turn.uses.append(block)
            elif (
                isinstance(block, ir.ThinkingBlock)
                and isinstance(turn, _Assistant)
                and thinking_on
                and block.thinking
            ):
                # Replayed as tags inside the content (rule 13); dropped if thinking is off.
                turn.text.append(f"<thinking>{block.thinking}</thinking>")
    return turns


def _pair_tools(turns: list[_Turn]) -> None:
    """Results must answer the assistant turn right before them, and every use gets one."""
    previous: _Assistant | None = None
    for turn in turns:
        if isinstance(turn, _Assistant):
            previous = turn
            continue
        wanted = {use.id for use in previous.uses} if previous else set()
        kept: list[ir.ToolResultBlock] = []
        for result in turn.results:
            if result.tool_use_id in wanted and result.tool_use_id not in {
                r.tool_use_id for r in kept
            }:
                kept.append(result)
            elif result.tool_use_id not in {r.tool_use_id for r in kept}:
                # An orphan (the client trimmed the call away): keep its text, not its shape.
                turn.text.append(f"[Tool result {result.tool_use_id}]\n{result.text}")
        turn.results = kept
        if previous is not None:
            answered = {r.tool_use_id for r in kept}
            previous.uses = [use for use in previous.uses if use.id in answered]
        previous = None
    if previous is not None:  # history ends with tool calls nobody answered
        previous.uses = []


def _user_item(turn: _User, model_id: str, names: ToolNames, keep_images: bool) -> dict[str, Any]:
    text = "\n\n".join(turn.text)
    if not text.strip():
        text = TOOL_RESULTS_ONLY if turn.results else EMPTY
    item: dict[str, Any] = {"content": text, "modelId": model_id, "origin": ORIGIN}
    if turn.images:
        if keep_images:
            item["images"] = turn.images
        else:
            item["content"] += f"\n[{len(turn.images)} earlier image(s) omitted]"
    if turn.results:
        item["userInputMessageContext"] = {
            "toolResults": [
                {
                    "toolUseId": result.tool_use_id,
                    "content": [{"text": result.text or EMPTY_RESULT}],
                    "status": "error" if result.is_error else "success",
                }
                for result in turn.results
            ]
        }
    return item


def _assistant_item(turn: _Assistant, names: ToolNames) -> dict[str, Any]:
    text = "\n\n".join(turn.text)
    item: dict[str, Any] = {"content": text if text.strip() else EMPTY}
    if turn.uses:
        item["toolUses"] = [
            {
                "toolUseId": use.id,
                "name": names.upstream(use.name),
                "input": drop_empty_keys(use.input),
            }
            for use in turn.uses
        ]
    return item


def build_request(
    request: ir.Request,
    *,
    model_id: str,
    profile_arn: str | None = None,
    conversation_id: str | None = None,
    max_bytes: int | None = None,
) -> KiroRequest:
    """The CodeWhisperer body for `request`; ContextLengthExceeded above `max_bytes`."""
    names = ToolNames()
    tools = [tool_spec(tool, names) for tool in request.tools]
    has_tool_content = any(
        isinstance(b, ir.ToolUseBlock | ir.ToolResultBlock)
        for m in request.messages
        for b in m.content
    )
    # Rule 6: tool content without tool definitions becomes plain text.
    turns = _turns(request, textify_tools=has_tool_content and not tools)
    # Rule 1: a trailing assistant turn (prefill) stays in history; "Continue" is sent.
    if not turns or isinstance(turns[-1], _Assistant):
        turns.append(_User(text=[CONTINUE]))
    _pair_tools(turns)
    # Rule 2: history starts with a user turn.
    if isinstance(turns[0], _Assistant):
        turns.insert(0, _User(text=[EMPTY]))
    # Rule 4 and 13: system prompt (and thinking tags) lead the first user content.
    first = turns[0]
    assert isinstance(first, _User)
    prefix = thinking_prefix(request.thinking)
    lead = "\n\n".join(p for p in (request.system_text,) if p)
    already = any("<thinking_mode>" in t for t in first.text) or "<thinking_mode>" in lead
    if prefix and not already:
        lead = prefix + ("\n\n" + lead if lead else "")
    if lead:
        first.text.insert(0, lead)

    # Rule 6 (kiro.rs variant too): names used in history need a definition when tools exist.
    defined = {t["toolSpecification"]["name"].lower() for t in tools}
    for turn in turns:
        if isinstance(turn, _Assistant) and tools:
            for use in turn.uses:
                if names.upstream(use.name).lower() not in defined:
                    tools.append(tool_spec(ir.Tool(name=use.name), names))
                    defined.add(names.upstream(use.name).lower())

    history: list[dict[str, Any]] = []
    image_floor = len(turns) - 1 - IMAGE_HISTORY
    for position, turn in enumerate(turns[:-1]):
        if isinstance(turn, _User):
            item = _user_item(turn, model_id, names, keep_images=position >= image_floor)
            history.append({"userInputMessage": item})
        else:
            history.append({"assistantResponseMessage": _assistant_item(turn, names)})
    last = turns[-1]
    assert isinstance(last, _User)
    current = _user_item(last, model_id, names, keep_images=True)
    if tools:
        current.setdefault("userInputMessageContext", {})["tools"] = tools

    state: dict[str, Any] = {
        "conversationId": conversation_id or str(uuid.uuid4()),
        "chatTriggerType": "MANUAL",
        "agentTaskType": "vibe",
        "currentMessage": {"userInputMessage": current},
    }
    if history:
        state["history"] = history
    body: dict[str, Any] = {"conversationState": state}
    if profile_arn:
        body["profileArn"] = profile_arn
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if max_bytes is not None and len(encoded) > max_bytes:
        raise ContextLengthExceeded(
            f"prompt is too long: the request is {len(encoded)} bytes, over Kiro's limit of "
            f"{max_bytes} bytes",
            param="messages",
        )
    return KiroRequest(body, encoded, names, bool(prefix), model_id)
