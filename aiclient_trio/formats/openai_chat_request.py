"""Parse a client's chat completions request (see `openai_chat.parse_request`).

OpenAI Chat Completions request bodies -> IR: validation and message regrouping. Tool messages
become user turns of tool results, in the order of the calls they answer.
"""

from __future__ import annotations

from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import InvalidRequest

__all__ = ["parse_request"]

# OpenAI fields we do not model but keep (as the request's `leftovers`) so an OpenAI-chat
# upstream reached through translation still receives them.
_KEPT_FIELDS = (
    "response_format",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "service_tier",
    "prediction",
    "verbosity",
    "prompt_cache_key",
)

# --------------------------------------------------------------------------- validation helpers


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def _opt_str(body: dict[str, Any], key: str, param: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(param, "must be a string")
    return value


def _opt_number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, "must be a number")
    return float(value)


def _opt_int(body: dict[str, Any], key: str, minimum: int = 1) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, f"must be an integer >= {minimum}")
    return value


def _opt_bool(body: dict[str, Any], key: str, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(param or key, "must be a boolean")
    return value


def _parse_data_url(url: str) -> ir.ImageBlock:
    """`data:<media>;base64,<data>` -> inline image; anything else is a URL image."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if sep and header.endswith(";base64"):
            return ir.ImageBlock(media_type=header[: -len(";base64")] or None, data=data)
    return ir.ImageBlock(url=url)


def _parse_parts(
    content: Any, param: str, *, allow_images: bool
) -> list[ir.TextBlock | ir.ImageBlock]:
    """A message `content`: a string or a list of parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.TextBlock(content)] if content else []
    if not isinstance(content, list):
        raise _fail(param, "must be a string or an array of content parts")
    blocks: list[ir.TextBlock | ir.ImageBlock] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise _fail(where, "must be an object")
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text", "refusal"):
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise _fail(f"{where}.text", "must be a string")
            blocks.append(ir.TextBlock(text))
        elif kind == "image_url" and allow_images:
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise _fail(f"{where}.image_url.url", "must be a non-empty string")
            blocks.append(_parse_data_url(url))
        else:
            raise _fail(f"{where}.type", f"unsupported content part type {kind!r}")
    return blocks


def _parse_tool_calls(calls: Any, param: str) -> list[ir.ToolUseBlock]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _fail(param, "must be an array")
    blocks = []
    for j, call in enumerate(calls):
        where = f"{param}[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise _fail(f"{where}.function", "must be an object")
        call_id, name = call.get("id"), function.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise _fail(f"{where}.id", "must be a non-empty string")
        if not isinstance(name, str) or not name:
            raise _fail(f"{where}.function.name", "must be a non-empty string")
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some clients send an object; accept it
            tool_input = arguments
        else:
            tool_input = ir.parse_tool_arguments(arguments if isinstance(arguments, str) else "")
        blocks.append(ir.ToolUseBlock(call_id, name, tool_input))
    return blocks


def _parse_assistant(message: dict[str, Any], param: str) -> ir.Message:
    content: list[ir.ContentBlock] = []
    thinking = message.get("reasoning_content")
    if thinking is None:
        thinking = message.get("reasoning_text")
    signature = message.get("reasoning_opaque")
    if thinking is not None and not isinstance(thinking, str):
        raise _fail(f"{param}.reasoning_content", "must be a string")
    if signature is not None and not isinstance(signature, str):
        raise _fail(f"{param}.reasoning_opaque", "must be a string")
    if thinking or signature:
        content.append(ir.ThinkingBlock(thinking or "", signature or None))
    content.extend(_parse_parts(message.get("content"), f"{param}.content", allow_images=False))
    content.extend(_parse_tool_calls(message.get("tool_calls"), f"{param}.tool_calls"))
    return ir.Message("assistant", tuple(content))


def _parse_tool_message(message: dict[str, Any], param: str) -> ir.ToolResultBlock:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _fail(f"{param}.tool_call_id", "must be a non-empty string")
    parts = _parse_parts(message.get("content"), f"{param}.content", allow_images=True)
    return ir.ToolResultBlock(call_id, tuple(parts))


def _order_results(
    results: list[ir.ToolResultBlock], previous: ir.Message | None
) -> list[ir.ToolResultBlock]:
    """Tool results in the order of the calls they answer (unknown ids keep their place last)."""
    if previous is None or previous.role != "assistant":
        return results
    order = {b.id: k for k, b in enumerate(previous.content) if isinstance(b, ir.ToolUseBlock)}
    return sorted(results, key=lambda r: order.get(r.tool_use_id, len(order)))


def _parse_messages(raw: Any) -> tuple[list[ir.TextBlock], list[ir.Message]]:
    if not isinstance(raw, list) or not raw:
        raise _fail("messages", "must be a non-empty array")
    system: list[ir.TextBlock] = []
    messages: list[ir.Message] = []
    results: list[ir.ToolResultBlock] = []  # the tool messages of the turn being built

    def flush_results(extra: tuple[ir.ContentBlock, ...] = ()) -> None:
        previous = messages[-1] if messages else None
        ordered = _order_results(results, previous)
        messages.append(ir.Message("user", (*ordered, *extra)))
        results.clear()

    for i, message in enumerate(raw):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _fail(param, "must be an object")
        role = message.get("role")
        if role == "tool":
            results.append(_parse_tool_message(message, param))
            continue
        if role in ("system", "developer"):
            parts = _parse_parts(message.get("content"), f"{param}.content", allow_images=False)
            system.extend(p for p in parts if isinstance(p, ir.TextBlock))
            continue
        if role == "user":
            parts = _parse_parts(message.get("content"), f"{param}.content", allow_images=True)
            if results:  # a user message right after tool results joins that turn
                flush_results(tuple(parts))
            else:
                messages.append(ir.Message("user", tuple(parts)))
            continue
        if results:
            flush_results()
        if role == "assistant":
            messages.append(_parse_assistant(message, param))
        else:
            raise _fail(f"{param}.role", f"unsupported role {role!r}")
    if results:
        flush_results()
    return system, messages


def _parse_tools(raw: Any) -> tuple[ir.Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail("tools", "must be an array")
    tools = []
    for i, tool in enumerate(raw):
        param = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _fail(f"{param}.type", "only function tools are supported")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _fail(f"{param}.function", "must be an object")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(f"{param}.function.name", "must be a non-empty string")
        description = function.get("description") or ""
        if not isinstance(description, str):
            raise _fail(f"{param}.function.description", "must be a string")
        parameters = function.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise _fail(f"{param}.function.parameters", "must be an object")
        tools.append(ir.Tool(name, description, parameters))
    return tuple(tools)


def _parse_tool_choice(raw: Any) -> ir.ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none"):
        return ir.ToolChoice(raw)
    if raw == "required":
        return ir.ToolChoice("any")
    if isinstance(raw, dict) and raw.get("type") == "function":
        function = raw.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return ir.ToolChoice("tool", name)
        raise _fail("tool_choice.function.name", "must be a non-empty string")
    raise _fail("tool_choice", 'must be "auto", "none", "required" or a function choice')


def _parse_stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    raise _fail("stop", "must be a string or an array of strings")


def _parse_thinking(body: dict[str, Any]) -> ir.ThinkingConfig | None:
    effort = _opt_str(body, "reasoning_effort", "reasoning_effort")
    budget = _opt_int(body, "thinking_budget")  # Copilot extension
    if effort is None and budget is None:
        return None
    if effort == "none" and budget is None:
        return ir.ThinkingConfig("disabled", effort=effort)
    return ir.ThinkingConfig("enabled", budget_tokens=budget, effort=effort)


def parse_request(body: Any) -> ir.Request:
    """A client's chat completions body -> IR; `InvalidRequest` names the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("model", "must be a non-empty string")
    n = _opt_int(body, "n")
    if n is not None and n != 1:
        raise _fail("n", "only n=1 is supported")
    system, messages = _parse_messages(body.get("messages"))
    max_tokens = _opt_int(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _opt_int(body, "max_tokens")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _fail("stream_options", "must be an object")
    include_usage = _opt_bool(options or {}, "include_usage", "stream_options.include_usage")
    kept = {key: body[key] for key in _KEPT_FIELDS if body.get(key) is not None}
    cache_key = kept.get("prompt_cache_key")
    return ir.Request(
        model=model,
        messages=tuple(messages),
        system=tuple(system),
        max_tokens=max_tokens,
        temperature=_opt_number(body, "temperature"),
        top_p=_opt_number(body, "top_p"),
        stop_sequences=_parse_stop(body.get("stop")),
        tools=_parse_tools(body.get("tools")),
        tool_choice=_parse_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=_opt_bool(body, "parallel_tool_calls"),
        thinking=_parse_thinking(body),
        stream=bool(_opt_bool(body, "stream")),
        user=_opt_str(body, "user", "user"),
        include_usage=bool(include_usage),
        prompt_cache_key=cache_key if isinstance(cache_key, str) else None,
        leftovers=ir.Leftovers("openai_chat", kept) if kept else None,
    )
