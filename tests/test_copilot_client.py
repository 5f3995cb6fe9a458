from __future__ import annotations

import json

import pytest
from copilot_helpers import load

from aiclient_trio import errors
from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.providers.copilot.client import map_upstream_error
from aiclient_trio.providers.copilot.headers import (
    CallHeaders,
    capi_headers,
    filter_anthropic_beta,
)
from aiclient_trio.providers.copilot.sanitize import merge_split_choices, prepare_body

F10 = load("errors_f10.json")


@pytest.mark.parametrize("case", F10, ids=[c["name"] for c in F10])
def test_f10_upstream_errors_keep_their_meaning(case: dict[str, object]) -> None:
    if "json" in case:
        raw, ctype = json.dumps(case["json"]).encode(), "application/json"
    else:
        raw, ctype = str(case["text"]).encode(), "text/plain"
    error = map_upstream_error(int(case["status"]), raw, ctype, {}, case["inbound"])  # type: ignore[call-overload, arg-type]
    expect = case["expect"]
    assert isinstance(expect, dict)
    assert type(error).__name__ == expect["cls"]
    assert error.status == expect["status"]
    if "message" in expect:
        assert error.message == expect["message"]
    if "contains" in expect:
        assert expect["contains"] in error.message
    if "code" in expect:
        assert error.code == expect["code"]
    if "should_retry" in expect:
        assert error.should_retry is expect["should_retry"]
        assert errors.error_headers(error)["x-should-retry"] == "false"
    if "retry_after" in expect:
        assert error.retry_after == expect["retry_after"]


def test_retry_after_header_wins_over_message() -> None:
    body = json.dumps({"error": {"message": "try again in 9 seconds"}}).encode()
    error = map_upstream_error(429, body, "application/json", {"retry-after": "3"}, "anthropic")
    assert error.retry_after == 3.0
    assert errors.anthropic_error_body(error)["error"]["type"] == "rate_limit_error"


def test_context_overflow_renders_for_each_client_format() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "prompt token count of 5 exceeds the limit of 4",
                "code": "model_max_prompt_tokens_exceeded",
            }
        }
    ).encode()
    anth = map_upstream_error(400, body, "application/json", {}, "anthropic")
    assert errors.anthropic_error_body(anth)["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 5 tokens > 4 maximum",
    }
    oai = map_upstream_error(400, body, "application/json", {}, "openai_chat")
    assert errors.openai_error_body(oai)["error"]["code"] == "context_length_exceeded"
    resp = map_upstream_error(400, body, "application/json", {}, "responses")
    assert errors.responses_error_object(resp)["code"] == "context_length_exceeded"


def test_anthropic_beta_kept_by_family_prefix() -> None:
    inbound = {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219, interleaved-thinking-2025-05-14,"
        "context-management-2025-06-27,prompt-caching-scope-2026-01-05,"
        "advanced-tool-use-2026-03-01,per-turn-control-2026-05-01,interleaved-thinking-",
    }
    config = CopilotConfig()
    assert filter_anthropic_beta(inbound, config) == {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "interleaved-thinking-2025-05-14,context-management-2025-06-27,"
        "advanced-tool-use-2026-03-01,per-turn-control-2026-05-01",
    }
    assert filter_anthropic_beta({"anthropic-beta": "claude-code-20250219"}, config) == {}
    # anthropic-version is a setting (the sources disagree): forward, drop or a fixed value.
    dropped = filter_anthropic_beta(inbound, CopilotConfig(anthropic_version="drop"))
    assert "anthropic-version" not in dropped
    fixed = CopilotConfig(anthropic_version="2023-06-01")
    assert filter_anthropic_beta({}, fixed) == {"anthropic-version": "2023-06-01"}


def test_capi_headers_carry_config_versions_and_billing() -> None:
    config = CopilotConfig(
        editor_version="vscode/9.9.9", editor_plugin_version="copilot-chat/1.2.3"
    )
    call = CallHeaders("r1", initiator="agent", vision=True)
    headers = capi_headers(config, "tid=x", call)
    assert headers["authorization"] == "Bearer tid=x"
    assert headers["editor-version"] == "vscode/9.9.9"
    assert headers["editor-plugin-version"] == "copilot-chat/1.2.3"
    assert headers["x-initiator"] == "agent"
    assert headers["copilot-vision-request"] == "true"
    assert headers["x-request-id"] == "r1"
    assert "copilot-vision-request" not in capi_headers(config, "t", CallHeaders("r2"))


def test_prepare_body_per_endpoint() -> None:
    chat = prepare_body(
        "openai_chat", {"model": "copilot/gpt-5-mini", "max_tokens": 50}, "gpt-5-mini"
    )
    assert chat == {"model": "gpt-5-mini", "max_completion_tokens": 50}
    kept = prepare_body("openai_chat", {"model": "x", "max_tokens": 50}, "gpt-4.1")
    assert kept == {"model": "gpt-4.1", "max_tokens": 50}
    resp = prepare_body(
        "responses", {"model": "x", "service_tier": "flex", "store": True}, "gpt-5-codex"
    )
    assert resp == {"model": "gpt-5-codex", "store": False}
    original = {
        "model": "claude-sonnet-4-5-20250929",
        "cache_control": {"type": "ephemeral"},
        "system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "scope": "global"}}
        ],
        "tools": [
            {"name": "Read", "input_schema": {"type": "object"}, "eager_input_streaming": True},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "x"}, {"type": "text", "text": "t"}],
            },
            {"role": "user", "content": "go"},
        ],
    }
    snapshot = json.dumps(original)
    anth = prepare_body("anthropic", original, "claude-sonnet-4.5")
    assert json.dumps(original) == snapshot, "the client's body is not modified"
    assert anth["model"] == "claude-sonnet-4.5"
    assert "cache_control" not in anth
    assert anth["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert anth["tools"] == [{"name": "Read", "input_schema": {"type": "object"}}]
    assert anth["messages"][0]["content"] == [{"type": "text", "text": "t"}]


def test_prepare_body_moves_system_messages_into_system() -> None:
    original = {
        "system": "base",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "agents: claude"},
            {"role": "system", "content": [{"type": "text", "text": "skills"}]},
        ],
    }
    body = prepare_body("anthropic", original, "claude-sonnet-4.5")
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert [block["text"] for block in body["system"]] == ["base", "agents: claude", "skills"]
    assert len(original["messages"]) == 3, "the client's body is not modified"


def test_split_choices_are_merged_into_one() -> None:
    merged = merge_split_choices(load("chat_split_choices_f5.json"))
    assert len(merged["choices"]) == 1
    choice = merged["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll read it."
    assert choice["message"]["tool_calls"][0]["id"] == "toolu_1"
    assert merged["usage"]["total_tokens"] == 29
    single = {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]}
    assert merge_split_choices(single) is single


def test_output_limit_clamped_to_the_model() -> None:
    chat = prepare_body(
        "openai_chat", {"model": "m", "max_tokens": 64000}, "claude-sonnet-4.5", 16000
    )
    assert chat["max_tokens"] == 16000
    anth = prepare_body("anthropic", {"model": "m", "max_tokens": 100}, "claude-sonnet-4.5", 16000)
    assert anth["max_tokens"] == 100
    resp = prepare_body(
        "responses", {"model": "m", "max_output_tokens": 90000}, "gpt-5-codex", 64000
    )
    assert resp["max_output_tokens"] == 64000
