"""IR request -> CodeWhisperer `generateAssistantResponse` body (kiro.md section 4.3).

The service answers "Improperly formed request." to almost any irregularity, so the
conversion normalises defensively: alternating history, no empty content, paired tool
uses and results, tools only on the current message. Choices are documented in docs/kiro.md.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import ContextLengthExceeded
from aiclient_trio.offload import dumps_in_pieces
from aiclient_trio.providers.kiro.effort import effort_fields, thinking_prefix
from aiclient_trio.providers.kiro.media import documents, image
from aiclient_trio.providers.kiro.tools import ToolNames, drop_empty_keys, tool_spec

__all__ = [
    "KiroRequest",
    "build_request",
    "conversation_id",
    "effort_fields",
    "encode_for",
    "strip_reasoning",
    "thinking_prefix",
]

ORIGIN = "AI_EDITOR"
EMPTY = "(empty)"
# After an assistant prefill the current message says this (a bare "Continue" is obeyed
# as an instruction by the model, kiro-2026.md).
PREFILL_NOTE = (
    "[Your previous answer above was cut off. Continue it exactly where it stopped, "
    "without repeating any of it.]"
)
TOOL_RESULTS_ONLY = "Tool results provided."
EMPTY_RESULT = "(empty result)"
# Images survive in the current message and this many most recent history messages.
IMAGE_HISTORY = 5


@dataclass(frozen=True, slots=True)
class KiroRequest:
    body: dict[str, Any]
    encoded: bytes
    tool_names: ToolNames
    thinking: bool  # tag-emulated thinking was requested: parse <thinking> in the answer
    model_id: str
    # True when some history turn carries reasoningContent (stripped on a bad signature).
    has_reasoning: bool = False


@dataclass(slots=True)
class _User:
    text: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    results: list[ir.ToolResultBlock] = field(default_factory=list)
    documents: list[ir.DocumentBlock] = field(default_factory=list)


@dataclass(slots=True)
class _Assistant:
    text: list[str] = field(default_factory=list)
    uses: list[ir.ToolUseBlock] = field(default_factory=list)
    reasoning: dict[str, Any] | None = None


_Turn = _User | _Assistant


# Headers a client may send to name its conversation (Kiro's prompt cache keys on it).
SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id", "session_id", "x-conversation-id")
_CONVERSATIONS = uuid.UUID("7d0c0f7e-3c52-4c1e-9a55-6b1f0e0c2a11")


def conversation_id(request: ir.Request, ctx: Any) -> str:
    """A conversationId that stays the same for every turn of one client conversation.

    From the client's session header when it sends one; else from the system prompt and
    the first user turn (the part of a conversation that never changes).
    """
    headers = getattr(ctx, "headers", {}) or {}
    for name in SESSION_HEADERS:
        if headers.get(name):
            return str(uuid.uuid5(_CONVERSATIONS, "session:" + headers[name]))
    first = next((m for m in request.messages if m.role == "user"), None)
    seed = [request.system_text or ""]
    if first is not None:
        for block in first.content:
            if isinstance(block, ir.TextBlock):
                seed.append(block.text)
            elif isinstance(block, ir.ImageBlock):
                seed.append(block.data or block.url or "")
            elif isinstance(block, ir.ToolResultBlock):
                seed.append(block.tool_use_id)
    return str(uuid.uuid5(_CONVERSATIONS, "first:" + "\x00".join(seed)))


def _turns(request: ir.Request, textify_tools: bool, thinking_on: bool) -> list[_Turn]:
    """IR messages as turns, adjacent same-role messages merged."""
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
                turn.images.append(image(block))
            elif isinstance(block, ir.DocumentBlock) and isinstance(turn, _User):
                turn.documents.append(block)
            elif isinstance(block, ir.ToolResultBlock) and isinstance(turn, _User):
                if textify_tools:
                    turn.text.append(f"[Tool result {block.tool_use_id}]\n{block.text}")
                else:
                    turn.results.append(block)
                turn.images.extend(image(b) for b in block.content if isinstance(b, ir.ImageBlock))
            elif isinstance(block, ir.ToolUseBlock) and isinstance(turn, _Assistant):
                if textify_tools:
                    arguments = json.dumps(block.input, ensure_ascii=False)
                    turn.text.append(f"[Tool call {block.name} {block.id}]\n{arguments}")
                else:
                    turn.uses.append(block)
            elif isinstance(block, ir.ThinkingBlock) and isinstance(turn, _Assistant):
                if block.signature and block.thinking and turn.reasoning is None:
                    # Signed (native) thinking goes back as reasoningContent, signature intact.
                    turn.reasoning = {
                        "reasoningText": {"text": block.thinking, "signature": block.signature}
                    }
                elif thinking_on and block.thinking and not block.signature:
                    # Tag thinking is replayed as tags (rule 13); dropped if thinking is off.
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


def _user_item(
    turn: _User, model_id: str, names: ToolNames, keep_images: bool, current: bool = False
) -> dict[str, Any]:
    text = "\n\n".join(turn.text)
    if not text.strip():
        text = TOOL_RESULTS_ONLY if turn.results else EMPTY
    item: dict[str, Any] = {"content": text, "modelId": model_id, "origin": ORIGIN}
    if turn.images:
        if keep_images:
            item["images"] = turn.images
        else:
            item["content"] += f"\n[{len(turn.images)} earlier image(s) omitted]"
    if turn.documents:
        attached, notes = documents(turn.documents, current=current)
        if attached:
            item["documents"] = attached
        if notes:
            item["content"] += "\n" + "\n".join(notes)
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
    if turn.reasoning is not None:
        item["reasoningContent"] = turn.reasoning
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
    effort_schema: dict[str, Any] | None = None,
    max_tool_description: int = 10_000,
) -> KiroRequest:
    """The CodeWhisperer body for `request`; ContextLengthExceeded above `max_bytes`.

    `effort_schema` is the model's additionalModelRequestFieldsSchema: with one, thinking
    is asked for in `additionalModelRequestFields` (native reasoning events come back);
    without one, through the `<thinking_mode>` tags of rule 13.
    """
    names = ToolNames()
    tools: list[dict[str, Any]] = []
    moved: list[str] = []
    for tool in request.tools:
        spec, long_description = tool_spec(tool, names, max_description=max_tool_description)
        tools.append(spec)
        if long_description is not None:
            name = spec["toolSpecification"]["name"]
            moved.append(f"## Tool {name}\n{long_description}")
    has_tool_content = any(
        isinstance(b, ir.ToolUseBlock | ir.ToolResultBlock)
        for m in request.messages
        for b in m.content
    )
    fields = effort_fields(request.thinking, effort_schema)
    prefix = "" if effort_schema is not None else thinking_prefix(request.thinking)
    # Rule 6: tool content without tool definitions becomes plain text.
    turns = _turns(request, textify_tools=has_tool_content and not tools, thinking_on=bool(prefix))
    # Rule 1: a trailing assistant turn (prefill) stays in history, and the current message
    # asks to continue it (no bare "Continue": the model obeys that word).
    if not turns or isinstance(turns[-1], _Assistant):
        turns.append(_User(text=[PREFILL_NOTE] if turns else [EMPTY]))
    _pair_tools(turns)
    # Rule 2: history starts with a user turn.
    if isinstance(turns[0], _Assistant):
        turns.insert(0, _User(text=[EMPTY]))
    # Rule 4 and 13: system prompt (and thinking tags) lead the first user content; tool
    # descriptions too long for a spec follow the system prompt in full.
    first = turns[0]
    assert isinstance(first, _User)
    system = request.system_text
    if moved:
        system = "\n\n".join(p for p in (system, "# Tool descriptions", *moved) if p)
    lead = "\n\n".join(p for p in (system,) if p)
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
                    tools.append(tool_spec(ir.Tool(name=use.name), names)[0])
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
    current = _user_item(last, model_id, names, keep_images=True, current=True)
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
    if fields is not None:
        body["additionalModelRequestFields"] = fields
    if profile_arn:
        body["profileArn"] = profile_arn
    encoded = _encode(body)
    if max_bytes is not None and len(encoded) > max_bytes:
        raise ContextLengthExceeded(
            f"prompt is too long: the request is {len(encoded)} bytes, over Kiro's limit of "
            f"{max_bytes} bytes",
            param="messages",
        )
    has_reasoning = any(isinstance(t, _Assistant) and t.reasoning for t in turns)
    return KiroRequest(body, encoded, names, bool(prefix), model_id, has_reasoning)


def _encode(body: dict[str, Any]) -> bytes:
    # A long history is encoded entry by entry: one C call per entry, not one for 30 MB.
    return dumps_in_pieces(body, ensure_ascii=False, separators=(",", ":")).encode()


def encode_for(request: KiroRequest, *, profile_arn: str | None, agent_mode: bool) -> bytes:
    """The body as one host family wants it: its profileArn, agentMode in the body or not."""
    if not {"profileArn", "agentMode"} & request.body.keys():
        # The usual case: the keys go last, so the encoded body only needs them appended
        # (no second encoding of a long history on the event loop).
        extra: dict[str, str] = {}
        if agent_mode:
            extra["agentMode"] = "vibe"
        if profile_arn:
            extra["profileArn"] = profile_arn
        if not extra:
            return request.encoded
        return request.encoded[:-1] + b"," + _encode(extra)[1:]
    body = {k: v for k, v in request.body.items() if k not in ("profileArn", "agentMode")}
    if agent_mode:
        body["agentMode"] = "vibe"
    if profile_arn:
        body["profileArn"] = profile_arn
    return _encode(body)


def strip_reasoning(request: KiroRequest) -> KiroRequest:
    """The request without replayed reasoningContent (after THINKING_SIGNATURE_INVALID)."""
    state = dict(request.body["conversationState"])
    history = []
    for item in state.get("history") or []:
        message = item.get("assistantResponseMessage")
        if isinstance(message, dict) and "reasoningContent" in message:
            message = {k: v for k, v in message.items() if k != "reasoningContent"}
            item = {"assistantResponseMessage": message}
        history.append(item)
    if history:
        state["history"] = history
    body = {**request.body, "conversationState": state}
    return KiroRequest(
        body, _encode(body), request.tool_names, request.thinking, request.model_id, False
    )
