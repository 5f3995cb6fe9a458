"""Parsing of Anthropic Messages (`POST /v1/messages`, `/count_tokens`) request bodies.

Accepts what real clients send (system blocks, `role: "system"` entries inside
`messages`, `cache_control` anywhere, unknown top-level fields) and raises
`InvalidRequest` naming the offending field ("messages.2.content.0.type: ...").
"""

from __future__ import annotations

from typing import Any, NoReturn, cast

from aiclient_trio import ir
from aiclient_trio.errors import InvalidRequest

__all__ = ["parse_request"]

# Top-level request fields mapped into the IR; everything else goes to the `leftovers`.
_MAPPED_FIELDS = frozenset(
    {"model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k"}
    | {"stop_sequences", "tools", "tool_choice", "thinking", "stream", "metadata"}
    | {"output_config"}
)


def _fail(path: str, message: str) -> NoReturn:
    raise InvalidRequest(f"{path}: {message}", param=path)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _obj(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(path, f"expected an object, got {_type_name(value)}")
    return cast(dict[str, Any], value)


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(path, f"expected an array, got {_type_name(value)}")
    return value


def _str(obj: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        _fail(f"{path}.{key}" if path else key, f"expected a string, got {_type_name(value)}")
    return value


def _opt_int(obj: dict[str, Any], key: str, minimum: int = 0) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(key, f"expected an integer, got {_type_name(value)}")
    if value < minimum:
        _fail(key, f"must be >= {minimum}")
    return value


def _opt_float(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(key, f"expected a number, got {_type_name(value)}")
    return float(value)


# --------------------------------------------------------------------------- request: parse


def parse_request(body: object) -> ir.Request:
    """An Anthropic Messages request body -> IR. Raises `InvalidRequest` naming the field.

    `max_tokens` is optional here so count_tokens bodies parse with the same function.
    Server tools (`web_search_20250305`...) are dropped (named in `dropped.server_tools`);
    other unmapped top-level fields are kept in `leftovers`.
    """
    body = _obj(body, "body")
    model = _str(body, "model", "")
    if not model:
        _fail("model", "must not be empty")
    system = list(_parse_system(body.get("system")))
    messages = _parse_messages(body.get("messages"), system)
    tools, server_tools = _parse_tools(body.get("tools"))
    tool_choice, parallel = _parse_tool_choice(body.get("tool_choice"))
    stop = body.get("stop_sequences")
    if stop is not None:
        stop = _list(stop, "stop_sequences")
        for i, item in enumerate(stop):
            if not isinstance(item, str):
                _fail(f"stop_sequences.{i}", f"expected a string, got {_type_name(item)}")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        _fail("stream", f"expected a boolean, got {_type_name(stream)}")
    leftovers = _leftovers(body)
    output_config = body.get("output_config")
    return ir.Request(
        model=model,
        messages=tuple(messages),
        system=tuple(system),
        max_tokens=_opt_int(body, "max_tokens", minimum=1),
        temperature=_opt_float(body, "temperature"),
        top_p=_opt_float(body, "top_p"),
        top_k=_opt_int(body, "top_k"),
        stop_sequences=tuple(stop or ()),
        tools=tuple(tools),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        thinking=_parse_thinking(body.get("thinking"), output_config),
        stream=bool(stream),
        user=_parse_user(body.get("metadata")),
        dropped=ir.Dropped(server_tools=tuple(map(_tool_label, server_tools))),
        leftovers=ir.Leftovers("anthropic", leftovers) if leftovers else None,
    )


def _tool_label(tool: dict[str, Any]) -> str:
    """A dropped tool as the log names it: its name, else its type."""
    return str(tool.get("name") or tool.get("type"))


def _parse_messages(raw: object, system: list[ir.TextBlock]) -> list[ir.Message]:
    """User and assistant turns; `system`/`developer` entries are appended to `system`."""
    messages: list[ir.Message] = []
    for i, item in enumerate(_list(raw, "messages")):
        path = f"messages.{i}"
        message = _obj(item, path)
        role = message.get("role")
        if role in ("system", "developer"):
            # Claude Code sends mid-conversation system entries: they belong in `system`.
            system.extend(_parse_text_only(message.get("content"), f"{path}.content"))
            continue
        if role not in ("user", "assistant"):
            _fail(f"{path}.role", f"unknown role {role!r}")
        content = _parse_content(message.get("content"), f"{path}.content")
        messages.append(ir.Message(role=role, content=content))
    if not messages:
        _fail("messages", "at least one user or assistant message is required")
    return messages


def _leftovers(body: dict[str, Any]) -> dict[str, Any]:
    """Fields the IR has no slot for, kept for an Anthropic upstream (context_management...)."""
    leftovers = {k: v for k, v in body.items() if k not in _MAPPED_FIELDS}
    for key, mapped in (("output_config", "effort"), ("metadata", "user_id")):
        value = body.get(key)
        if isinstance(value, dict) and (rest := {k: v for k, v in value.items() if k != mapped}):
            leftovers[key] = rest
    return leftovers


def _parse_system(raw: object) -> tuple[ir.TextBlock, ...]:
    if raw is None:
        return ()
    return _parse_text_only(raw, "system")


def _parse_text_only(raw: object, path: str) -> tuple[ir.TextBlock, ...]:
    """A string or an array of text blocks (system prompts)."""
    if isinstance(raw, str):
        return (ir.TextBlock(raw),) if raw else ()
    blocks: list[ir.TextBlock] = []
    for i, item in enumerate(_list(raw, path)):
        block = _obj(item, f"{path}.{i}")
        if block.get("type") != "text":
            _fail(f"{path}.{i}.type", f"expected 'text', got {block.get('type')!r}")
        blocks.append(_parse_text(block, f"{path}.{i}"))
    return tuple(blocks)


def _parse_text(block: dict[str, Any], path: str) -> ir.TextBlock:
    cache_control = block.get("cache_control")
    return ir.TextBlock(
        _str(block, "text", path),
        cache_control=cast(dict[str, Any], cache_control)
        if isinstance(cache_control, dict)
        else None,
    )


def _parse_content(raw: object, path: str) -> tuple[ir.ContentBlock, ...]:
    if isinstance(raw, str):
        return (ir.TextBlock(raw),) if raw else ()
    blocks: list[ir.ContentBlock] = []
    for i, item in enumerate(_list(raw, path)):
        blocks.append(_parse_block(_obj(item, f"{path}.{i}"), f"{path}.{i}"))
    return tuple(blocks)


def _parse_block(block: dict[str, Any], path: str) -> ir.ContentBlock:
    kind = block.get("type")
    if kind == "text":
        return _parse_text(block, path)
    if kind == "image":
        return _parse_image(block, path)
    if kind == "tool_use":
        tool_input = block.get("input", {})
        if not isinstance(tool_input, dict):
            _fail(f"{path}.input", f"expected an object, got {_type_name(tool_input)}")
        return ir.ToolUseBlock(
            id=_str(block, "id", path), name=_str(block, "name", path), input=tool_input
        )
    if kind == "tool_result":
        return _parse_tool_result(block, path)
    if kind == "thinking":
        signature = block.get("signature")
        if signature is not None and not isinstance(signature, str):
            _fail(f"{path}.signature", f"expected a string, got {_type_name(signature)}")
        return ir.ThinkingBlock(_str(block, "thinking", path, ""), signature or None)
    if kind == "redacted_thinking":
        return ir.RedactedThinkingBlock(_str(block, "data", path))
    if kind == "document":
        source = block.get("source")
        if (
            isinstance(source, dict)
            and source.get("type") == "base64"
            and source.get("media_type") == "application/pdf"
            and isinstance(source.get("data"), str)
        ):
            title = block.get("title")
            name = title if isinstance(title, str) and title else None
            return ir.DocumentBlock(source["data"], "application/pdf", name)
    if kind in ("document", "search_result"):
        return ir.TextBlock(_describe_block(block))
    _fail(f"{path}.type", f"unknown block type {kind!r}")


def _parse_image(block: dict[str, Any], path: str) -> ir.ImageBlock:
    source = _obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        return ir.ImageBlock(
            media_type=_str(source, "media_type", f"{path}.source"),
            data=_str(source, "data", f"{path}.source"),
        )
    if kind == "url":
        return ir.ImageBlock(url=_str(source, "url", f"{path}.source"))
    _fail(f"{path}.source.type", f"unsupported image source type {kind!r}")


def _parse_tool_result(block: dict[str, Any], path: str) -> ir.ToolResultBlock:
    raw = block.get("content")
    content: list[ir.TextBlock | ir.ImageBlock] = []
    if isinstance(raw, str):
        if raw:
            content.append(ir.TextBlock(raw))
    elif raw is not None:
        for i, item in enumerate(_list(raw, f"{path}.content")):
            part = _obj(item, f"{path}.content.{i}")
            if part.get("type") == "text":
                content.append(_parse_text(part, f"{path}.content.{i}"))
            elif part.get("type") == "image":
                content.append(_parse_image(part, f"{path}.content.{i}"))
            else:
                # documents, tool_reference, search results...: keep what text we can.
                content.append(ir.TextBlock(_describe_block(part)))
    is_error = block.get("is_error", False)
    return ir.ToolResultBlock(
        tool_use_id=_str(block, "tool_use_id", path),
        content=tuple(content),
        is_error=is_error is True,
    )


def _describe_block(block: dict[str, Any]) -> str:
    """Text for a block the IR has no slot for (documents, tool references, ...)."""
    kind = block.get("type")
    if kind == "tool_reference":
        return f"[tool_reference: {block.get('tool_name', '')}]"
    source = block.get("source")
    title = block.get("title")
    prefix = f"{title}\n\n" if isinstance(title, str) and title else ""
    if isinstance(source, dict):
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            return prefix + cast(str, source["data"])
        if source.get("type") == "content" and isinstance(source.get("content"), list):
            parts = [p.get("text", "") for p in source["content"] if isinstance(p, dict)]
            return prefix + "\n".join(p for p in parts if isinstance(p, str))
        if source.get("type") == "url":
            return f"{prefix}[{kind}: {source.get('url', '')}]"
        return f"{prefix}[{kind} omitted: {source.get('media_type', 'unknown type')}]"
    if isinstance(block.get("content"), list):  # search_result
        parts = [p.get("text", "") for p in block["content"] if isinstance(p, dict)]
        return prefix + "\n".join(p for p in parts if isinstance(p, str))
    if isinstance(block.get("text"), str):
        return cast(str, block["text"])
    return f"[{kind} omitted]"


def _parse_tools(raw: object) -> tuple[list[ir.Tool], list[dict[str, Any]]]:
    tools: list[ir.Tool] = []
    server_tools: list[dict[str, Any]] = []
    if raw is None:
        return tools, server_tools
    for i, item in enumerate(_list(raw, "tools")):
        tool = _obj(item, f"tools.{i}")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            # Server tools (web search, code execution...) cannot run on our upstreams.
            server_tools.append(tool)
            continue
        schema = tool.get("input_schema", {"type": "object"})
        schema = _obj(schema, f"tools.{i}.input_schema")
        description = tool.get("description")
        name = _str(tool, "name", f"tools.{i}")
        if not name:
            _fail(f"tools.{i}.name", "must be a non-empty string")
        tools.append(
            ir.Tool(
                name=name,
                description=description if isinstance(description, str) else "",
                input_schema=schema,
            )
        )
    return tools, server_tools


def _parse_tool_choice(raw: object) -> tuple[ir.ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    choice = _obj(raw, "tool_choice")
    kind = choice.get("type")
    if kind not in ("auto", "any", "none", "tool"):
        _fail("tool_choice.type", f"unknown tool_choice type {kind!r}")
    name = _str(choice, "name", "tool_choice") if kind == "tool" else None
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    return ir.ToolChoice(type=kind, name=name), parallel


def _parse_thinking(raw: object, output_config: object) -> ir.ThinkingConfig | None:
    effort = None
    if isinstance(output_config, dict) and isinstance(output_config.get("effort"), str):
        effort = output_config["effort"]
    if raw is None:
        # Effort alone still says how hard to reason; adaptive lets the model decide.
        return ir.ThinkingConfig(type="adaptive", effort=effort) if effort else None
    thinking = _obj(raw, "thinking")
    kind = thinking.get("type")
    if kind not in ("enabled", "adaptive", "disabled"):
        _fail("thinking.type", f"unknown thinking type {kind!r}")
    budget = thinking.get("budget_tokens")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
        _fail("thinking.budget_tokens", f"expected an integer, got {_type_name(budget)}")
    return ir.ThinkingConfig(type=kind, budget_tokens=budget, effort=effort)


def _parse_user(raw: object) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("user_id"), str):
        return cast(str, raw["user_id"])
    return None
