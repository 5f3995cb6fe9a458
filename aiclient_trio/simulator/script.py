"""The one scripted behaviour every simulated model follows, whatever its wire format.

Both simulators answer the last user message the same way, so tests and users can drive
real clients through tools, thinking and faults with plain text:

- plain text: a deterministic reply naming the simulator and quoting the start of the text;
- ``[[call NAME {json}]]`` with a tool NAME offered: the model calls it with those arguments;
  when the next request carries the tool's result, the reply quotes the start of the result;
- ``[[think TEXT]]``: the answer starts with a thinking block holding TEXT;
- ``[[error STATUS]]``, ``[[reset-after N]]``, ``[[stall-ms N]]``: faults for tests.

Pure: no I/O. The simulators never import the gateway's formats, providers or codecs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "ToolCall", "count_tokens", "fragments", "plan_reply"]

_QUOTE_CHARS = 60
# Tool results often open with a header (Codex: chunk id, wall time, exit code): quote more.
_RESULT_QUOTE_CHARS = 240
# Context that clients wrap around the user's words (Claude Code's reminders); not quoted.
_WRAPPED_CONTEXT = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_PARAGRAPH = re.compile(r"\n\s*\n")
_DIRECTIVE = re.compile(r"\[\[(call|think|error|reset-after|stall-ms)\s+(.*?)\]\]", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None = None
    thinking: str | None = None
    tool_call: ToolCall | None = None
    error_status: int | None = None
    reset_after: int | None = None
    stall_ms: int | None = None


def _quote(text: str, limit: int = _QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _users_words(text: str) -> str:
    """The last paragraph once directives and wrapped context are gone: what the user typed
    (a system prompt merged in front of it, as Kiro requests carry it, is left out)."""
    plain = _WRAPPED_CONTEXT.sub("", _DIRECTIVE.sub("", text))
    paragraphs = [p for p in _PARAGRAPH.split(plain) if p.strip()]
    return paragraphs[-1].strip() if paragraphs else text.strip()


def _parse_call(argument: str) -> tuple[str, dict[str, Any]] | None:
    name, _, rest = argument.strip().partition(" ")
    if not name:
        return None
    rest = rest.strip()
    if not rest:
        return name, {}
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return (name, value) if isinstance(value, dict) else None


def _int(argument: str) -> int | None:
    try:
        return int(argument.strip())
    except ValueError:
        return None


def plan_reply(
    *,
    simulator: str,
    last_user_text: str,
    offered_tools: Sequence[str] = (),
    tool_results: Sequence[str] = (),
) -> Reply:
    """Decide the reply to the last user turn (text, and any tool results it carries)."""
    thinking: str | None = None
    call: ToolCall | None = None
    error_status = reset_after = stall_ms = None
    for match in _DIRECTIVE.finditer(last_user_text):
        kind, argument = match.group(1), match.group(2)
        if kind == "think":
            thinking = argument.strip()
        elif kind == "call":
            parsed = _parse_call(argument)
            if parsed is not None and parsed[0] in offered_tools and not tool_results:
                call = ToolCall(*parsed)
        elif kind == "error":
            error_status = _int(argument)
        elif kind == "reset-after":
            reset_after = _int(argument)
        elif kind == "stall-ms":
            stall_ms = _int(argument)

    if tool_results:
        text = f"{simulator} got the tool result: {_quote(tool_results[0], _RESULT_QUOTE_CHARS)}"
    elif call is not None:
        text = f"{simulator} is calling {call.name}."
    else:
        text = f"Hello from the {simulator}! You said: {_quote(_users_words(last_user_text))}"
    return Reply(
        text=text,
        thinking=thinking,
        tool_call=call,
        error_status=error_status,
        reset_after=reset_after,
        stall_ms=stall_ms,
    )


def fragments(text: str, parts: int = 3) -> list[str]:
    """Split `text` into up to `parts` non-empty pieces (one piece if it is short)."""
    if not text:
        return [""]
    size = max(1, math.ceil(len(text) / max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def count_tokens(text: str) -> int:
    """A crude count (one token per 4 characters, at least 1) for simulated usage numbers."""
    return max(1, math.ceil(len(text) / 4))
