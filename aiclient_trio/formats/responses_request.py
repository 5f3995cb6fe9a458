"""OpenAI Responses request bodies (what Codex sends) -> IR requests.

Input items become alternating user/assistant messages, developer and system items the
system prompt; custom (freeform) tools become one-string functions, namespaces are
flattened and hosted tools dropped, all noted on the request for the renderers and logs.
"""

from __future__ import annotations

from typing import Any, Literal

from aiclient_trio import errors, ir
from aiclient_trio.formats.responses_items import summary_text

__all__ = ["parse_request"]

_TOOL_CHOICES: dict[str, ir.ToolChoice] = {
    "auto": ir.ToolChoice("auto"),
    "none": ir.ToolChoice("none"),
    "required": ir.ToolChoice("any"),
}
_SYSTEM_ROLES = ("system", "developer")


def _bad(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


class _Turns:
    """Collects (role, block) pairs and merges consecutive same-role blocks into messages."""

    def __init__(self) -> None:
        self.messages: list[ir.Message] = []
        self._role: Literal["user", "assistant"] | None = None
        self._blocks: list[ir.ContentBlock] = []

    def add(self, role: Literal["user", "assistant"], blocks: list[ir.ContentBlock]) -> None:
        if not blocks:
            return
        if role != self._role:
            self.flush()
            self._role = role
        self._blocks.extend(blocks)

    def flush(self) -> None:
        if self._blocks and self._role is not None:
            self.messages.append(ir.Message(self._role, tuple(self._blocks)))
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
    output, failed = item.get("output"), item.get("status") == "failed"
    if isinstance(output, dict):  # older Codex: {"content": ..., "success": false}
        failed = failed or output.get("success") is False
        output = output.get("content_items") or output.get("content")
    content = _parts(output if output is not None else "", f"{param}.output", notes)
    return ir.ToolResultBlock(call_id, tuple(content), is_error=failed)


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
            self.dropped.append(f"{name} (duplicate name)")
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


def _thinking(reasoning: object) -> tuple[ir.ThinkingConfig | None, str | None]:
    """The thinking asked for, and the summary mode (`reasoning.summary`)."""
    if reasoning is None:
        return None, None
    if not isinstance(reasoning, dict):
        raise _bad("reasoning must be an object", "reasoning")
    summary = reasoning.get("summary")
    summary = summary if isinstance(summary, str) else None
    effort = reasoning.get("effort")
    if effort == "none":
        return ir.ThinkingConfig(type="disabled"), summary
    return ir.ThinkingConfig(effort=effort if isinstance(effort, str) else None), summary


def parse_request(body: Any) -> ir.Request:
    """A client's Responses body as IR. Unknown items and hosted tools are dropped and
    noted in `dropped` (`items`, `tools`); reasoning items with neither
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

    kept = {
        key: body[key]
        for key in ("metadata", "store", "include", "text", "truncation")
        if body.get(key) is not None
    }
    cache_key = body.get("prompt_cache_key")
    thinking, summary = _thinking(body.get("reasoning"))
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
        custom_tools=frozenset(tools.custom),
        tool_namespaces=tools.namespaces,
        prompt_cache_key=cache_key if isinstance(cache_key, str) else None,
        reasoning_summary=summary,
        dropped=ir.Dropped(tools=tuple(tools.dropped), items=tuple(notes)),
        leftovers=ir.Leftovers("responses", kept) if kept else None,
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
