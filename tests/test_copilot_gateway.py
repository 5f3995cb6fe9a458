"""Copilot through the gateway, over real sockets.

The CAPI base from `endpoints.api` with the account type / enterprise domain only as a
fallback; the OpenAI SDK streaming and two-turn tool loops on every routing case.
"""

from __future__ import annotations

import json
import random
import re
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import trio
import trio.testing
from copilot_helpers import (
    copilot_config,
    copilot_gateway,
    start_copilot_for_tests,
    start_simulators,
)
from fakes import make_gateway, serve, sse_events, start_ledger
from fault_kit import error_of
from sdk_rounds import responses_tool_round, streamed_thinking
from test_copilot_auth import _poll as poll_device_flow
from test_faults_copilot import call

from aiclient_trio.cli.usage_report import format_quota
from aiclient_trio.config.types import Config, CopilotConfig
from aiclient_trio.providers.copilot.auth import (
    DeviceFlowError,
    exchange_token,
    github_urls,
    load_credential,
)
from aiclient_trio.providers.copilot.commands import device_sign_in
from aiclient_trio.providers.copilot.headers import CallHeaders, capi_headers
from aiclient_trio.providers.copilot.provider import _backoff
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot_models import SIM_MODELS


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Virtual time (the 5 s device polls) that jumps only after a short real idle, so
    # socket round trips to the simulator finish first.
    return trio.testing.MockClock(autojump_threshold=0.02)


EXCHANGE = {"token": "tid=t1;exp=1900000000", "expires_at": 1900000000, "refresh_in": 1500}


async def _exchange(config: CopilotConfig, answer: dict[str, Any]) -> tuple[str, str]:
    """(URL the exchange went to, CAPI base it chose)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == "token gho_test"
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        token = await exchange_token(client, config, "gho_test")
    return seen[0], token.api_url


@pytest.mark.parametrize(
    ("config", "exchange_url", "fallback"),
    [
        (
            CopilotConfig(),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="business"),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.business.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="enterprise"),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.enterprise.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="enterprise", enterprise_domain="acme.ghe.com"),
            "https://api.acme.ghe.com/copilot_internal/v2/token",
            "https://copilot-api.acme.ghe.com",
        ),
    ],
)
async def test_endpoints_api_wins_and_account_type_is_only_the_fallback(
    config: CopilotConfig, exchange_url: str, fallback: str
) -> None:
    named = {**EXCHANGE, "endpoints": {"api": "https://api.individual.githubcopilot.com/"}}
    url, base = await _exchange(config, named)
    assert url == exchange_url
    assert base == "https://api.individual.githubcopilot.com"
    url, base = await _exchange(config, EXCHANGE)  # no endpoints in the answer
    assert base == fallback


def test_enterprise_domain_moves_the_device_flow_too() -> None:
    web, api = github_urls(CopilotConfig(enterprise_domain="acme.ghe.com"))
    assert (web, api) == ("https://acme.ghe.com", "https://api.acme.ghe.com")
    assert github_urls(CopilotConfig()) == ("https://github.com", "https://api.github.com")


READ_PARAMS = {"type": "object", "properties": {"path": {"type": "string"}}}
ASK = 'Look [[call Read {"path": "a.txt"}]]'


def _openai_conversations(url: str, model: str) -> dict[str, Any]:
    """Both OpenAI endpoints through the sync SDK (the async one leaves its SSE generators
    unclosed at [DONE], a ResourceWarning under trio): streamed tool call, the answer after
    the result, streamed thinking."""
    seen: dict[str, Any] = {}
    name = f"copilot/{model}"
    chat_tool = {"type": "function", "function": {"name": "Read", "parameters": READ_PARAMS}}
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        stream = client.chat.completions.create(
            model=name,
            stream=True,
            tools=[chat_tool],  # type: ignore[list-item]
            messages=[{"role": "user", "content": ASK}],
        )
        with stream:
            for chunk in stream:
                for choice in chunk.choices:
                    for delta in choice.delta.tool_calls or []:
                        slot = calls.setdefault(delta.index, {"id": "", "name": "", "args": ""})
                        slot["id"] += delta.id or ""
                        slot["name"] += (delta.function and delta.function.name) or ""
                        slot["args"] += (delta.function and delta.function.arguments) or ""
                    finish = choice.finish_reason or finish
        call = calls[0]
        seen["chat_first"] = (finish, call["name"], call["args"])
        second = client.chat.completions.create(
            model=name,
            tools=[chat_tool],  # type: ignore[list-item]
            messages=[
                {"role": "user", "content": ASK},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": "Read", "arguments": call["args"]},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call["id"], "content": "hello"},
            ],
        )
        seen["chat_second"] = second.choices[0].message.content
        seen["chat_thinking"] = streamed_thinking(
            client,
            name,
            "[[think Plan it.]] 2+2?",
            fields=("reasoning_content", "reasoning_text"),
        )
        resp_tool = {"type": "function", "name": "Read", "parameters": READ_PARAMS}
        seen["responses_first"], seen["responses_second"] = responses_tool_round(
            client, name, resp_tool, ASK, "bye"
        )
    return seen


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4.5", "gpt-5-codex"])
async def test_openai_sdk_streaming_tool_loops_and_thinking_on_every_route(
    tmp_path: Path, model: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider))) as url:
            seen = await trio.to_thread.run_sync(_openai_conversations, url, model)
        nursery.cancel_scope.cancel()
    assert seen["chat_first"][:2] == ("tool_calls", "Read")
    assert json.loads(seen["chat_first"][2]) == {"path": "a.txt"}
    assert seen["chat_second"].endswith("got the tool result: hello")
    reasoning, text = seen["chat_thinking"]
    assert reasoning == "Plan it." and text
    assert seen["responses_first"][0] == "Read"
    assert json.loads(seen["responses_first"][1]) == {"path": "a.txt"}
    assert seen["responses_second"].endswith("got the tool result: bye")
    posts = [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]
    # Billing: each first request of a user turn is `user`, each tool-result follow-up `agent`.
    assert [r.headers["x-initiator"] for r in posts] == ["user", "agent", "user", "user", "agent"]
    # OpenAI formats go to /chat/completions whenever the model has it (section 8), else
    # to the codex model's only endpoint; the Responses route translates onto either.
    expected = "/responses" if model == "gpt-5-codex" else "/chat/completions"
    assert {r.path for r in posts} == {expected}
    assert all(r.body["model"] == model for r in posts)


async def test_device_sign_in_sends_the_copilot_client_id_and_opens_a_browser(
    nursery: trio.Nursery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: trio.testing.MockClock,
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    sim = await start_simulators(nursery)
    sim.state.faults.device_polls = [
        {"error": "authorization_pending"},
        {"access_token": "gho_test", "token_type": "bearer", "scope": "read:user"},
    ]
    config = replace(copilot_config(sim).copilot, account_type="business")
    lines: list[str] = []
    credential = await device_sign_in(config, tmp_path, echo=lines.append, open_browser=True)
    assert opened == ["https://github.com/login/device"]
    assert "ABCD-1234" in lines[0] and len(lines) > 1  # progress while polling
    code_request = sim.state.recorded("github", "/login/device/code")[0]
    assert code_request.body == {"client_id": "Iv1.b507a08c87ecfe98", "scope": "read:user"}
    polls = sim.state.recorded("github", "/login/oauth/access_token")
    assert polls and all(
        p.body
        == {
            "client_id": "Iv1.b507a08c87ecfe98",
            "device_code": "dc1",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        }
        for p in polls
    )
    assert credential.account_type == "business"
    assert load_credential(tmp_path) == credential
    nursery.cancel_scope.cancel()


def test_refresh_backoff_grows_with_jitter_and_a_cap() -> None:
    random.seed(5)
    for attempt, (low, high) in {1: (1.0, 2.0), 3: (4.0, 8.0), 20: (150.0, 300.0)}.items():
        samples = [_backoff(attempt) for _ in range(50)]
        assert all(low <= s <= high for s in samples), attempt
        assert len(set(samples)) > 1, "jittered, so clients do not refresh in lockstep"


async def test_models_and_quota_reach_v1_models_and_v1_usage(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        await start_ledger(nursery, gateway, tmp_path / "usage.db")
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            listing = (await http.get("/v1/models")).json()
            usage = (await http.get("/v1/usage")).json()
        nursery.cancel_scope.cancel()
    by_id = {m["id"]: m for m in listing["data"]}
    claude = by_id["copilot/claude-sonnet-4.5"]
    upstream = next(m for m in SIM_MODELS if m["id"] == "claude-sonnet-4.5")
    limits = upstream["capabilities"]["limits"]
    assert claude["context_window"] == limits["max_context_window_tokens"]
    assert claude["max_prompt_tokens"] == claude["max_input_tokens"] == limits["max_prompt_tokens"]
    assert claude["max_output_tokens"] == claude["max_tokens"] == limits["max_output_tokens"]
    assert claude["supports_tools"] and claude["supports_vision"] and claude["supports_thinking"]
    assert claude["enabled"] is True
    assert by_id["copilot/gpt-5-codex"]["supports_vision"] is False
    # Listed upstream but not enabled for the account: not listed (it cannot answer), as in
    # `aiclient models` and the demo banner (Provider.listed_models).
    assert "copilot/claude-opus-4.1" not in by_id
    quota = usage["quota"]["copilot"]
    assert (quota["remaining"], quota["limit"]) == (120, 300)
    assert quota["resets_at"]
    # The line `aiclient status` and `aiclient usage` print for it.
    line = format_quota(quota)
    assert line.startswith("120 of 300 ") and f"resets {quota['resets_at']}" in line


NATIVE = [
    (
        "/v1/messages",
        "/v1/messages",
        "claude-sonnet-4.5",
        {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    ),
    (
        "/v1/chat/completions",
        "/chat/completions",
        "gpt-4o",
        {
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        },
    ),
    ("/v1/responses", "/responses", "gpt-5-codex", {"input": "hi", "store": False}),
]


async def test_passthrough_relays_the_upstream_bytes_unchanged(tmp_path: Path) -> None:
    """Section 8 passthrough: the client gets exactly the bytes Copilot sent (event names,
    pings, spacing), for each of the three native endpoints."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        assert provider.tokens is not None
        token = await provider.tokens.get()
        direct = capi_headers(provider._cc, token.token, CallHeaders("r1", initiator="user"))
        async with serve(create_app(gateway)) as url, httpx.AsyncClient() as http:
            for path, upstream_path, model, body in NATIVE:
                relayed = await http.post(
                    url + path, json={**body, "stream": True, "model": f"copilot/{model}"}
                )
                original = await http.post(
                    token.api_url + upstream_path,
                    json={**body, "stream": True, "model": model},
                    headers=direct,
                )
                assert relayed.status_code == original.status_code == 200, relayed.text
                # Each answer has its own response id; everything else is byte for byte.
                same_ids = re.compile(rb"resp_sim\d+")
                assert same_ids.sub(b"resp", relayed.content) == same_ids.sub(
                    b"resp", original.content
                ), path
                assert b"You said: hi" in relayed.content
        nursery.cancel_scope.cancel()
    assert [
        r.path for r in sim.state.requests if r.service == "copilot" and r.method == "POST"
    ] == [p for _, up, _, _ in NATIVE for p in (up, up)]


async def test_unknown_model_is_a_404_with_close_matches_in_every_format(tmp_path: Path) -> None:
    bodies = {
        "/v1/messages": {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
        "/v1/responses": {"input": "hi"},
    }
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            for path, body in bodies.items():
                answer = await http.post(path, json={**body, "model": "copilot/claude-sonet-4.5"})
                assert answer.status_code == 404, answer.text
                error = answer.json()["error"]
                assert "copilot/claude-sonnet-4.5" in error["message"], path
                if path == "/v1/messages":
                    assert error["type"] == "not_found_error"
                else:
                    assert error["code"] == "model_not_found"
        nursery.cancel_scope.cancel()
    assert not [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]


@pytest.mark.parametrize(
    ("fmt", "model"),
    [("responses", "gpt-5-codex"), ("openai_chat", "gpt-4o"), ("anthropic", "claude-sonnet-4.5")],
)
async def test_passthrough_mid_stream_reset_is_a_well_formed_error(
    tmp_path: Path, fmt: str, model: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        info = provider.resolve_model(model)
        assert provider.passthrough(info, fmt)  # type: ignore[arg-type]
        async with serve(create_app(gateway)) as url:
            response = await call(
                url, fmt, f"copilot/{model}", True, **_prompt(fmt, "cut [[reset-after 3]]")
            )
        nursery.cancel_scope.cancel()
    assert response.status_code == 200
    error = error_of(fmt, response)
    assert error["message"]
    assert all(json.loads(e.data) for e in sse_events(response.content) if e.data != "[DONE]")


def _prompt(fmt: str, text: str) -> dict[str, Any]:
    if fmt == "responses":
        return {"input": text}
    return {"messages": [{"role": "user", "content": text}]}


async def test_small_model_route_takes_haiku_class_background_requests(tmp_path: Path) -> None:
    config = Config(copilot=CopilotConfig(small_model="gpt-4o"))
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path, config=config)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            for model in ("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"):
                answer = await http.post(
                    "/v1/messages",
                    json={
                        "model": model,
                        "max_tokens": 16,
                        "messages": [{"role": "user", "content": "title this chat"}],
                    },
                )
                assert answer.status_code == 200, answer.text
        nursery.cancel_scope.cancel()
    posts = [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]
    assert [(r.path, r.body["model"]) for r in posts] == [
        ("/chat/completions", "gpt-4o"),  # the haiku-class request went to the small model
        ("/v1/messages", "claude-sonnet-4.5"),
    ]


async def test_native_refusals_keep_their_status_and_message(tmp_path: Path) -> None:
    """Section 4.3 rejections the body cannot be cleaned of (prefill) come back as the
    client's own 400, with Copilot's words, not as a gateway 5xx."""
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="copilot"))
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            answer = await http.post(
                "/v1/messages",
                json={
                    "model": "copilot/claude-sonnet-4.5",
                    "max_tokens": 16,
                    "messages": [
                        {"role": "user", "content": "Say a colour"},
                        {"role": "assistant", "content": "The colour is"},
                    ],
                },
            )
        nursery.cancel_scope.cancel()
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "must end with a user message" in body["error"]["message"]


@pytest.mark.parametrize("error", ["incorrect_device_code", "unsupported_grant_type", "new_error"])
async def test_device_flow_stops_on_every_other_error(
    clock: trio.testing.MockClock, nursery: trio.Nursery, error: str
) -> None:
    """copilot.md 2.1 "and the rest": any error but pending / slow_down ends the flow."""
    result, elapsed, progress = await poll_device_flow(
        nursery, [{"error": "authorization_pending"}, {"error": error}]
    )
    assert isinstance(result, DeviceFlowError) and result.code == error
    assert 10 <= elapsed < 11  # two polls at the 5 s interval, then no more
    assert len(progress) == 1
