"""OpenAI Responses wire format (`POST /v1/responses`): request and response bodies <-> IR.

Stateless by design: Codex sends the whole conversation as input items every turn, so
`previous_response_id` is refused and `store` is never honoured. Streams live in
`responses_stream`; shared item shapes in `responses_items`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiclient_trio import errors, ir
from aiclient_trio.formats.responses_items import (
    error_from_code,
    output_item_to_block,
    render_output_items,
    render_stream_error,
    response_id,
    response_object,
    summary_text,
    usage_from_responses,
)
from aiclient_trio.formats.responses_stream import StreamParser, StreamRenderer

__all__ = [
    "StreamParser",
    "StreamRenderer",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "render_stream_error",
]

_TOOL_CHOICES: dict[str, ir.ToolChoice] = {
    "auto": ir.ToolChoice("auto"),
    "none": ir.ToolChoice("none"),
    "required": ir.ToolChoice("any"),
}
_CHOICE_NAMES = {"auto": "auto", "any": "required", "none": "none"}
_SYSTEM_ROLES = ("system", "developer")
# Codex sends a low/medium/high effort; an Anthropic-style budget maps onto the same scale.
_BUDGET_EFFORTS = ((4096, "low"), (16384, "medium"))


def _bad(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


# --------------------------------------------------------------------------- parse_request


class _Turns:
    """Collects (role, block) pairs and merges consecutive same-role blocks into messages."""

    def __init__(self) -> None:
        self.messages: list[ir.Message] = []
        self._role: str | None = None
        self._blocks: list[ir.ContentBlock] = []

    def add(self, role: str, blocks: list[ir.ContentBlock]) -> None:
        if not blocks:
            return
        if role != self._role:
            self.flush()
            self._role = role
        self._blocks.extend(blocks)

    def flush(self) -> None:
        if self._blocks and self._role in ("user", "assistant"):
            role: Any = self._role
            self.messages.append(ir.Message(role, tuple(self._blocks)))
        self._blocks = []


def _image(part: dict[str, Any], param: str) -> ir.ImageBlock:
    url = part.get("image_url")
    if isinstance(url, dict):  # chat-completions style {"url": ...}, seen from some clients
        url = url.get("url")
    if not isinstance(url, str) or not url:
        if part.get("file_id"):
            raise _bad("input_image.file_id is not supported; send image_url", param)
        raise _bad("input_image needs an image_url", param)
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head[5:].split(";")[0] or "image/png"
        if ";base64" not in head:
            raise _bad("input_image data URLs must be base64", param)
        return ir.ImageBlock(media_type=media_type, data=data)
    return ir.ImageBlock(url=url)


def _parts(content: object, param: str, notes: list[str]) -> list[ir.TextBlock | ir.ImageBlock]:
    """Message or tool-output content: a string, or a list of text/image parts."""
    if isinstance(content, str):
        return [ir.TextBlock(content)] if content else []
    if not isinstance(content, list):
        raise _bad("content must be a string or a list of parts", param)
    blocks: list[ir.TextBlock | ir.ImageBlock] = []
    for n, part in enumerate(content):
        where = f"{param}[{n}]"
        if isinstance(part, str):
            blocks.append(ir.TextBlock(part))
            continue
        if not isinstance(part, dict):
            raise _bad("content parts must be objects", where)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise _bad("a text part needs a string text", f"{where}.text")
            blocks.append(ir.TextBlock(text))
        elif kind == "refusal":
            blocks.append(ir.TextBlock(str(part.get("refusal") or "")))
        elif kind == "input_image":
            blocks.append(_image(part, where))
        elif kind == "input_file":
            raise _bad("input_file is not supported by this gateway", where)
        else:
            notes.append(f"content part {kind!r}")
    return blocks


def _call_fields(item: dict[str, Any], param: str) -> tuple[str, str]:
    call_id = item.get("call_id") or item.get("id")
    name = item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise _bad("a tool call item needs a call_id", f"{param}.call_id")
    if not isinstance(name, str) or not name:
        raise _bad("a tool call item needs a name", f"{param}.name")
    return call_id, name


def _output(item: dict[str, Any], param: str, notes: list[str]) -> ir.ToolResultBlock:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad("a tool output item needs a call_id", f"{param}.call_id")
    output = item.get("output")
    content = _parts(output if output is not None else "", f"{param}.output", notes)
    return ir.ToolResultBlock(call_id, tuple(content), is_error=item.get("status") == "failed")


class _ToolSet:
    """Tools from `tools` and `additional_tools` items: functions kept, custom tools wrapped
    as a one-string-argument function, namespaces flattened, hosted tools dropped."""

    def __init__(self) -> None:
        self.tools: list[ir.Tool] = []
        self.custom: set[str] = set()
        self.namespaces: dict[str, str] = {}
        self.dropped: list[str] = []

    def add_all(self, tools: object, param: str, namespace: str | None = None) -> None:
        if tools is None:
            return
        if not isinstance(tools, list):
            raise _bad("tools must be a list", param)
        for n, tool in enumerate(tools):
            self.add(tool, f"{param}[{n}]", namespace)

    def add(self, tool: object, param: str, namespace: str | None) -> None:
        if not isinstance(tool, dict):
            raise _bad("a tool must be an object", param)
        kind, name = tool.get("type"), tool.get("name")
        if kind == "namespace":
            self.add_all(tool.get("tools"), f"{param}.tools", str(name or ""))
            return
        if kind not in ("function", "custom"):
            self.dropped.append(str(name or kind))
            return
        if not isinstance(name, str) or not name:
            raise _bad("a tool needs a name", f"{param}.name")
        if any(t.name == name for t in self.tools):
            return
        description = tool.get("description")
        description = description if isinstance(description, str) else ""
        if namespace:
            self.namespaces[name] = namespace
        if kind == "custom":
            self.custom.add(name)
            self.tools.append(ir.Tool(name, description, _custom_schema(tool.get("format"))))
            return
        schema = tool.get("parameters")
        if schema is not None and not isinstance(schema, dict):
            raise _bad("function parameters must be an object", f"{param}.parameters")
        self.tools.append(ir.Tool(name, description, schema or {"type": "object"}))


def _custom_schema(fmt: object) -> dict[str, Any]:
    """A freeform (custom) tool as a function taking one string, its format as the hint."""
    hint = "The raw freeform input for this tool."
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        syntax = fmt.get("syntax") or "grammar"
        hint = (
            f"The raw input, which must match this {syntax} grammar:\n{fmt.get('definition', '')}"
        )
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": hint}},
        "required": ["input"],
    }


def _tool_choice(value: object) -> ir.ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise _bad("tool_choice must be auto, none, required or a tool", "tool_choice")
        return _TOOL_CHOICES[value]
    if isinstance(value, dict):
        name = value.get("name")
        if value.get("type") in ("function", "custom") and isinstance(name, str) and name:
            return ir.ToolChoice("tool", name)
        return ir.ToolChoice("auto")  # allowed_tools, hosted tool types: let the model choose
    raise _bad("tool_choice must be a string or an object", "tool_choice")


def _number(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind | int):
        raise _bad(f"{key} must be a number", key)
    return value


def _thinking(reasoning: object, extra: dict[str, Any]) -> ir.ThinkingConfig | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise _bad("reasoning must be an object", "reasoning")
    if reasoning.get("summary") is not None:
        extra["reasoning_summary"] = reasoning["summary"]
    effort = reasoning.get("effort")
    if effort == "none":
        return ir.ThinkingConfig(type="disabled")
    return ir.ThinkingConfig(effort=effort if isinstance(effort, str) else None)


def parse_request(body: Any) -> ir.Request:
    """A client's Responses body as IR. Unknown items and hosted tools are dropped and
    noted in `extra` (`dropped_items`, `dropped_tools`); reasoning items with neither
    summary text nor encrypted content are dropped; input item ids are not kept."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", "body")
    if body.get("previous_response_id") is not None:
        raise _bad(
            "previous_response_id is not supported: this gateway is stateless; "
            "send the full conversation in input",
            "previous_response_id",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required", "model")
    system: list[ir.TextBlock] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        system.append(ir.TextBlock(instructions))
    elif instructions is not None and not isinstance(instructions, str):
        raise _bad("instructions must be a string", "instructions")
    notes: list[str] = []
    tools = _ToolSet()
    turns = _Turns()
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        turns.add("user", [ir.TextBlock(raw_input)] if raw_input else [])
    elif isinstance(raw_input, list):
        for n, item in enumerate(raw_input):
            _input_item(item, f"input[{n}]", turns, system, tools, notes)
    elif raw_input is not None:
        raise _bad("input must be a string or a list of items", "input")
    turns.flush()
    tools.add_all(body.get("tools"), "tools")

    extra: dict[str, Any] = {"custom_tools": frozenset(tools.custom)}
    for key in ("metadata", "store", "include", "prompt_cache_key", "text", "truncation"):
        if body.get(key) is not None:
            extra[key] = body[key]
    if tools.namespaces:
        extra["tool_namespaces"] = tools.namespaces
    if tools.dropped:
        extra["dropped_tools"] = tools.dropped
    if notes:
        extra["dropped_items"] = notes
    thinking = _thinking(body.get("reasoning"), extra)
    parallel, stream, user = body.get("parallel_tool_calls"), body.get("stream"), body.get("user")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    max_tokens = _number(body, "max_output_tokens", int)
    if max_tokens is not None and max_tokens < 1:
        raise _bad("max_output_tokens must be positive", "max_output_tokens")
    return ir.Request(
        model=model,
        messages=tuple(turns.messages),
        system=tuple(system),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", float),
        top_p=_number(body, "top_p", float),
        tools=tuple(tools.tools),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=parallel,
        thinking=thinking,
        stream=stream is True,
        user=user if isinstance(user, str) else None,
        extra=extra,
    )


def _input_item(
    item: object,
    param: str,
    turns: _Turns,
    system: list[ir.TextBlock],
    tools: _ToolSet,
    notes: list[str],
) -> None:
    if not isinstance(item, dict):
        raise _bad("input items must be objects", param)
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        blocks = _parts(item.get("content"), f"{param}.content", notes)
        if role in _SYSTEM_ROLES:
            system.extend(b for b in blocks if isinstance(b, ir.TextBlock) and b.text)
        elif role in ("user", "assistant"):
            turns.add(role, list(blocks))
        else:
            raise _bad("role must be user, assistant, system or developer", f"{param}.role")
    elif kind == "function_call":
        call_id, name = _call_fields(item, param)
        arguments = item.get("arguments")
        tool_input = ir.parse_tool_arguments(arguments if isinstance(arguments, str) else "")
        turns.add("assistant", [ir.ToolUseBlock(call_id, name, tool_input)])
    elif kind == "custom_tool_call":
        call_id, name = _call_fields(item, param)
        raw = item.get("input")
        turns.add("assistant", [ir.ToolUseBlock(call_id, name, {"input": str(raw or "")})])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        turns.add("user", [_output(item, param, notes)])
    elif kind == "reasoning":
        signature = item.get("encrypted_content")
        signature = signature if isinstance(signature, str) and signature else None
        text = summary_text(item)
        if text or signature:
            turns.add("assistant", [ir.ThinkingBlock(text, signature)])
    elif kind == "additional_tools":
        tools.add_all(item.get("tools"), f"{param}.tools")
    else:
        notes.append(f"input item {kind!r}")


# --------------------------------------------------------------------------- render_request


def _render_parts(blocks: list[ir.ContentBlock], role: str) -> dict[str, Any]:
    text_type = "output_text" if role == "assistant" else "input_text"
    content: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, ir.TextBlock):
            content.append({"type": text_type, "text": block.text})
        elif isinstance(block, ir.ImageBlock):
            content.append({"type": "input_image", "image_url": block.data_url, "detail": "auto"})
    return {"type": "message", "role": role, "content": content}


def _render_output(block: ir.ToolResultBlock) -> dict[str, Any]:
    output: str | list[dict[str, Any]]
    if all(isinstance(b, ir.TextBlock) for b in block.content):
        output = block.text
    else:
        output = _render_parts(list(block.content), "user")["content"]
    item: dict[str, Any] = {"type": "function_call_output", "call_id": block.tool_use_id}
    return item | {"output": output}


def _render_items(message: ir.Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pending: list[ir.ContentBlock] = []

    def flush() -> None:
        if pending:
            items.append(_render_parts(pending, message.role))
            pending.clear()

    for block in message.content:
        if isinstance(block, ir.TextBlock | ir.ImageBlock):
            if message.role == "user" or isinstance(block, ir.TextBlock):
                pending.append(block)
            continue
        flush()
        if isinstance(block, ir.ToolUseBlock):
            arguments = json.dumps(block.input, ensure_ascii=False)
            items.append(
                {"type": "function_call", "call_id": block.id, "name": block.name}
                | {"arguments": arguments}
            )
        elif isinstance(block, ir.ToolResultBlock):
            items.append(_render_output(block))
        elif isinstance(block, ir.ThinkingBlock) and block.signature:
            # Only signed reasoning can be replayed; the item id is not kept in the IR.
            summary = [{"type": "summary_text", "text": block.thinking}] if block.thinking else []
            items.append(
                {"type": "reasoning", "summary": summary, "encrypted_content": block.signature}
            )
    flush()
    return items


def _effort(thinking: ir.ThinkingConfig) -> str:
    if thinking.effort:
        return thinking.effort
    for limit, effort in _BUDGET_EFFORTS:
        if thinking.budget_tokens is not None and thinking.budget_tokens <= limit:
            return effort
    return "medium" if thinking.budget_tokens is None else "high"


def render_request(request: ir.Request) -> dict[str, Any]:
    """The IR as a Responses upstream body (stateless: `store` false, full input).

    Custom tools travel as plain functions (`{"input": ...}`); stop sequences and top_k
    have no Responses equivalent and are left out.
    """
    body: dict[str, Any] = {"model": request.model}
    if request.system_text:
        body["instructions"] = request.system_text
    body["input"] = [item for message in request.messages for item in _render_items(message)]
    if request.tools:
        body["tools"] = [
            {"type": "function", "name": tool.name, "description": tool.description}
            | {"parameters": tool.input_schema, "strict": False}
            for tool in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        if choice.type == "tool":
            body["tool_choice"] = {"type": "function", "name": choice.name}
        else:
            body["tool_choice"] = _CHOICE_NAMES[choice.type]
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    for key, value in (
        ("max_output_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("user", request.user),
    ):
        if value is not None:
            body[key] = value
    thinking = request.thinking
    if thinking is not None and thinking.type != "disabled":
        body["reasoning"] = {"effort": _effort(thinking), "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]
    body["store"] = False
    body["stream"] = request.stream
    return body


# --------------------------------------------------------------------------- responses


def parse_response(body: Any) -> ir.Response:
    """An upstream non-stream Responses body as IR (a failed response raises its error)."""
    if not isinstance(body, dict):
        raise errors.UpstreamError("the upstream response is not a JSON object")
    status, failure = body.get("status"), body.get("error")
    if status == "failed" or isinstance(failure, dict):
        failure = failure if isinstance(failure, dict) else {}
        raise error_from_code(failure.get("code"), failure.get("message"))
    content: list[ir.Block] = []
    for item in body.get("output") or []:
        content.extend(output_item_to_block(item))
    stop: ir.StopReason = (
        "tool_use" if any(isinstance(b, ir.ToolUseBlock) for b in content) else "end_turn"
    )
    if status == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        stop = "content_filter" if reason == "content_filter" else "max_tokens"
    return ir.Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=tuple(content),
        stop_reason=stop,
        usage=usage_from_responses(body.get("usage")) or ir.Usage(),
    )


def render_response(
    response: ir.Response,
    *,
    custom_tools: frozenset[str] = frozenset(),
    model: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """The IR as a full Responses `response` object (tool calls of custom tools are
    rendered as `custom_tool_call` items)."""
    resp_id = response_id(response.id)
    return response_object(
        resp_id=resp_id,
        model=model or response.model,
        created_at=int(time.time()) if created_at is None else created_at,
        output=render_output_items(response.content, resp_id.removeprefix("resp_"), custom_tools),
        usage=response.usage,
        stop_reason=response.stop_reason,
    )
