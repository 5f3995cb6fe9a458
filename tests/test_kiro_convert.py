"""IR request -> CodeWhisperer body: table-driven fixtures (kiro.md 4.3 rules, R1-R4).

Each fixture's expected body is also checked against the simulator's independent request
rules, which refuse what the real service refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiclient_trio import ir
from aiclient_trio.errors import ContextLengthExceeded, InvalidRequest, NotFound
from aiclient_trio.providers.kiro.convert import build_request
from aiclient_trio.providers.kiro.models import (
    FALLBACK_MODELS,
    normalize_model_id,
    resolve_model_id,
)
from aiclient_trio.providers.kiro.tools import MAX_DESCRIPTION, TOOL_NAME, ToolNames
from aiclient_trio.simulator.kiro_rules import check_request

DATA = Path(__file__).parent / "data" / "kiro" / "convert"
CASES = sorted(DATA.glob("*.json"))
ARN = "arn:aws:codewhisperer:us-east-1:123456789012:profile/EXAMPLE"
CONVERSATION = "7b0e3f4a-9c1d-4e55-8a21-2f6d1c0b9e11"


def _block(data: dict[str, Any]) -> ir.ContentBlock:
    kind = data["type"]
    if kind == "text":
        return ir.TextBlock(data["text"])
    if kind == "image":
        return ir.ImageBlock(data.get("media_type"), data.get("data"), data.get("url"))
    if kind == "tool_use":
        return ir.ToolUseBlock(data["id"], data["name"], data["input"])
    if kind == "tool_result":
        content = tuple(_block(b) for b in data["content"])
        return ir.ToolResultBlock(data["tool_use_id"], content, data.get("is_error", False))  # type: ignore[arg-type]
    if kind == "thinking":
        return ir.ThinkingBlock(data["thinking"], data.get("signature"))
    raise AssertionError(kind)


def ir_request(data: dict[str, Any]) -> ir.Request:
    messages = tuple(
        ir.Message(m["role"], tuple(_block(b) for b in m["content"])) for m in data["messages"]
    )
    tools = tuple(
        ir.Tool(t["name"], t.get("description", ""), t.get("input_schema", {}))
        for t in data.get("tools", [])
    )
    thinking = ir.ThinkingConfig(**data["thinking"]) if "thinking" in data else None
    system = (ir.TextBlock(data["system"]),) if "system" in data else ()
    return ir.Request(
        model="claude-sonnet-4.5",
        messages=messages,
        system=system,
        tools=tools,
        thinking=thinking,
        max_tokens=data.get("max_tokens"),
        temperature=data.get("temperature"),
    )


def convert(data: dict[str, Any]) -> dict[str, Any]:
    converted = build_request(
        ir_request(data),
        model_id="claude-sonnet-4.5",
        profile_arn=ARN,
        conversation_id=CONVERSATION,
    )
    assert json.loads(converted.encoded) == converted.body
    return converted.body


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_conversion_fixture(path: Path) -> None:
    case = json.loads(path.read_text())
    body = convert(case["request"])
    assert body == case["expected"]
    assert check_request(body) is None


def test_long_tool_names_are_restored() -> None:
    names = ToolNames()
    long = "mcp__server__" + "x" * 80
    short = names.upstream(long)
    assert len(short) == 64 and short != long
    assert names.upstream(long) == short
    assert names.client(short) == long
    # Names that differ only in case would collide upstream: the second one is renamed.
    assert names.upstream("Read") == "Read"
    assert names.upstream("read") != "read"
    assert names.client(names.upstream("read")) == "read"


def test_long_descriptions_move_into_the_system_prompt() -> None:
    """Nothing is cut: the spec points at the system prompt, which holds the full text."""
    full = "Use this tool carefully. " + "d" * (MAX_DESCRIPTION + 500)
    tool = {"name": "t", "description": full}
    body = convert(
        {"system": "Be brief.", "tools": [tool], "messages": [{"role": "user", "content": []}]}
    )
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    spec = current["userInputMessageContext"]["tools"][0]["toolSpecification"]
    assert len(spec["description"]) < 200 and "system prompt" in spec["description"]
    assert current["content"].startswith("Be brief.\n\n# Tool descriptions\n\n## Tool t\n")
    assert full in current["content"]
    assert check_request(body) is None


def test_tool_names_follow_the_service_rule() -> None:
    names = ToolNames()
    for name in ("mcp.server/read file", "ok_name-1", "x" * 70):
        upstream = names.upstream(name)
        assert TOOL_NAME.match(upstream), upstream
        assert names.client(upstream) == name
    assert names.upstream("ok_name-1") == "ok_name-1"


def test_only_recent_history_keeps_images() -> None:
    png = "iVBORw0KGgo="
    image = {"type": "image", "media_type": "image/png", "data": png}
    messages: list[dict[str, Any]] = []
    for turn in range(8):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"u{turn}"}, image]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"a{turn}"}]})
    messages.append({"role": "user", "content": [{"type": "text", "text": "last"}, image]})
    body = convert({"messages": messages})
    state = body["conversationState"]
    with_images = [h for h in state["history"] if "images" in h.get("userInputMessage", {})]
    assert len(with_images) == 2  # the user items among the last 5 history messages
    assert "earlier image(s) omitted" in state["history"][0]["userInputMessage"]["content"]
    assert state["currentMessage"]["userInputMessage"]["images"][0]["source"]["bytes"] == png
    assert check_request(body) is None


@pytest.mark.parametrize(
    ("image", "complaint"),
    [
        ({"type": "image", "url": "https://example.com/cat.png"}, "URL"),
        ({"type": "image", "media_type": "image/bmp", "data": "AAAA"}, "bmp"),
        ({"type": "image", "media_type": "image/png", "data": "not base64!"}, "base64"),
    ],
)
def test_unusable_images_are_refused_locally(image: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidRequest, match=complaint):
        convert({"messages": [{"role": "user", "content": [image]}]})


def test_size_guard_answers_prompt_is_too_long() -> None:
    request = ir_request(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 5000}]}]}
    )
    with pytest.raises(ContextLengthExceeded, match="prompt is too long"):
        build_request(request, model_id="claude-sonnet-4.5", max_bytes=4000)
    build_request(request, model_id="claude-sonnet-4.5", max_bytes=6000)


@pytest.mark.parametrize(
    ("client", "kiro"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4.5"),
        ("claude-opus-4-6", "claude-opus-4.6"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("Claude-Sonnet-4.5", "claude-sonnet-4.5"),
        ("claude-3-7-sonnet-latest", "claude-3.7-sonnet"),
        ("auto", "auto"),
    ],
)
def test_model_names_map_to_kiro_ids(client: str, kiro: str) -> None:
    assert normalize_model_id(client) == kiro


def test_unknown_model_is_refused_with_close_matches_or_passed_through() -> None:
    assert resolve_model_id("claude-sonnet-4-5-20250929", FALLBACK_MODELS).id == "claude-sonnet-4.5"
    assert resolve_model_id("claude-opus-4-8[1m]", FALLBACK_MODELS).id == "claude-opus-4.8"
    assert resolve_model_id("gpt-5-6-terra", FALLBACK_MODELS).id == "gpt-5.6-terra"
    # With the account's live list: a 404 naming the close matches.
    with pytest.raises(NotFound) as caught:
        resolve_model_id("gpt-5", FALLBACK_MODELS, live=True)
    assert caught.value.status == 404
    assert "Did you mean: kiro/gpt-5.6-sol" in caught.value.message
    # Without it (only the built-in list), the service has the last word.
    assert resolve_model_id("claude-opus-6", FALLBACK_MODELS, live=False).id == "claude-opus-6"
