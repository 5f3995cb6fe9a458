"""The Kiro provider against the Kiro simulator over real loopback sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from kiro_helpers import collect, kiro_config, start_kiro_for_tests, summarize, user_request

from aiclient_trio import ir
from aiclient_trio.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from aiclient_trio.providers.base import ProviderState, RequestContext
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.credentials import TokenStore
from aiclient_trio.simulator.kiro import serve_kiro_simulator

WEATHER = ir.Tool(
    "get_weather",
    "Get the weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


async def test_text_answer_headers_and_body(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    seen = summarize(await collect(provider, user_request("Hello there")))
    assert seen["text"] == "Hello from the Kiro simulator! You said: Hello there"
    assert seen["stop_reason"] == "end_turn"
    assert seen["usage"].input_tokens > 0 and not seen["usage"].input_estimated
    [request] = sim.generate_requests()
    headers = request.headers
    assert headers["authorization"].startswith("Bearer at-")
    assert headers["x-amzn-codewhisperer-optout"] == "true"
    # The runtime family (the default): AWS JSON 1.0, the Kiro IDE persona.
    assert request.path == "/runtime/us-east-1/"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-target"] == "KiroRuntimeService.GenerateAssistantResponse"
    assert "api/kiroruntime#1.0.0" in headers["user-agent"]
    assert "KiroIDE-1.0.437-" in headers["user-agent"]
    assert headers["x-amz-user-agent"].startswith("aws-sdk-js/1.0.0 KiroIDE-1.0.437-")
    assert headers["amz-sdk-request"] == "attempt=1; max=3"
    assert "tokentype" not in headers  # social tokens send no TokenType
    assert "x-amzn-kiro-agent-mode" not in headers
    assert len(headers["amz-sdk-invocation-id"]) == 36
    body = request.json()
    assert body["profileArn"].startswith("arn:aws:codewhisperer:us-east-1:")
    assert body["agentMode"] == "vibe"
    assert provider.describe()["family"] == "runtime"


async def test_two_turn_tool_loop(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    ask = user_request('Weather? [[call get_weather {"city": "Paris"}]]', tools=(WEATHER,))
    events = await collect(provider, ask)
    first = summarize(events)
    assert first["stop_reason"] == "tool_use"
    assert first["tools"] == [["get_weather", {"city": "Paris"}]]
    call_id = next(
        e.block.id
        for e in events
        if isinstance(e, ir.BlockStart) and isinstance(e.block, ir.ToolUseBlock)
    )
    follow_up = ir.Request(
        model="claude-sonnet-4.5",
        tools=(WEATHER,),
        messages=(
            *ask.messages,
            ir.Message(
                "assistant",
                (
                    ir.TextBlock(first["text"]),
                    ir.ToolUseBlock(call_id, "get_weather", {"city": "Paris"}),
                ),
            ),
            ir.Message("user", (ir.ToolResultBlock(call_id, (ir.TextBlock("18 C and cloudy"),)),)),
        ),
    )
    second = summarize(await collect(provider, follow_up))
    assert second["text"] == "Kiro simulator got the tool result: 18 C and cloudy"
    assert second["stop_reason"] == "end_turn"
    assert sim.violations == []


async def test_long_tool_names_round_trip(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    long_name = "mcp__workspace_tools__" + "fetch_the_current_weather_report_" * 2
    tool = ir.Tool(long_name, "weather", {"type": "object"})
    # The script calls the upstream (shortened) name; clients must see theirs again.
    short = long_name[:52]
    request = user_request("x", tools=(tool,))
    converted = provider.convert(request, provider.resolve_model("claude-sonnet-4.5"), _ctx())
    upstream = converted.tool_names.upstream(long_name)
    assert upstream.startswith(short) and len(upstream) == 64
    events = await collect(provider, user_request(f"[[call {upstream} {{}}]]", tools=(tool,)))
    assert summarize(events)["tools"] == [[long_name, {}]]
    assert sim.violations == []


def _ctx() -> RequestContext:
    return RequestContext(request_id="r", inbound_format="anthropic", client_model="m")


async def test_image_reaches_the_service(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    png += "rkJggg=="
    message = ir.Message("user", (ir.TextBlock("What is this?"), ir.ImageBlock("image/png", png)))
    request = ir.Request(model="claude-sonnet-4.5", messages=(message,))
    seen = summarize(await collect(provider, request))
    assert "What is this?" in seen["text"]
    body = sim.generate_requests()[0].json()
    images = body["conversationState"]["currentMessage"]["userInputMessage"]["images"]
    assert images == [{"format": "png", "source": {"bytes": png}}]


async def test_tag_thinking(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, _ = await start_kiro_for_tests(nursery, tmp_path)
    request = user_request("[[think Plan: add numbers.]] 2+2?", thinking=ir.ThinkingConfig())
    seen = summarize(await collect(provider, request))
    assert seen["thinking"] == "Plan: add numbers."
    assert seen["text"].startswith("Hello from the Kiro simulator!")
    assert seen["signature"] is None


async def test_think_without_thinking_requested_uses_native_reasoning(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    # The script promises a thinking block for [[think]] whatever the client's settings.
    provider, _ = await start_kiro_for_tests(nursery, tmp_path)
    seen = summarize(await collect(provider, user_request("[[think Plan it.]] hi")))
    assert seen["thinking"] == "Plan it."
    assert seen["text"].startswith("Hello from the Kiro simulator!")
    assert "<thinking>" not in seen["text"]


async def test_native_reasoning_with_signature(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    sim.faults.native_reasoning = True
    events = await collect(provider, user_request("[[think Plan it.]] hi"))
    seen = summarize(events)
    assert seen["thinking"] == "Plan it."
    assert seen["signature"] is not None and seen["signature"].startswith("sig-")
    first_block = next(e for e in events if isinstance(e, ir.BlockStart))
    assert isinstance(first_block.block, ir.ThinkingBlock) and first_block.index == 0


@pytest.mark.parametrize(
    ("fault", "error_type", "status", "fragment"),
    [
        ("malformed", InvalidRequest, 400, "Improperly formed request"),
        ("too_long", ContextLengthExceeded, 400, "prompt is too long"),
        ("invalid_model", NotFound, 404, "not available"),
        ("forbidden", PermissionDenied, 403, "not authorized"),
        ("quota", QuotaExceeded, 429, "limit"),
        ("throttle", RateLimited, 429, "busy"),
        ("internal", UpstreamError, 500, "unexpected error"),
    ],
)
async def test_http_errors_map_to_gateway_errors(
    nursery: trio.Nursery,
    tmp_path: Path,
    fault: str,
    error_type: type[GatewayError],
    status: int,
    fragment: str,
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    sim.faults.http_errors.append(fault)
    with pytest.raises(error_type) as caught:
        await collect(provider, user_request("hi"))
    assert caught.value.status == status
    assert fragment in caught.value.message
    token = TokenStore(tmp_path / "aiclient" / "kiro" / "token.json").load()
    assert token is not None and token["accessToken"] not in caught.value.message
    if fault == "throttle":
        assert caught.value.retry_after == 2.0
    if fault == "quota":
        assert caught.value.should_retry is False


@pytest.mark.parametrize(
    ("prompt", "fault", "error_type"),
    [
        ("[[error 429]]", None, RateLimited),
        ("[[error 402]]", None, QuotaExceeded),
        ("[[error 500]]", None, UpstreamError),
    ],
)
async def test_script_errors(
    nursery: trio.Nursery, tmp_path: Path, prompt: str, fault: str | None, error_type: type
) -> None:
    provider, _ = await start_kiro_for_tests(nursery, tmp_path)
    with pytest.raises(error_type):
        await collect(provider, user_request(prompt))


@pytest.mark.parametrize(
    ("setup", "error_type"),
    [
        ({"exception": "ThrottlingException"}, RateLimited),
        ({"error_frame": True}, UpstreamError),
    ],
)
async def test_mid_stream_faults_end_with_stream_error(
    nursery: trio.Nursery, tmp_path: Path, setup: dict[str, Any], error_type: type
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    for name, value in setup.items():
        setattr(sim.faults, name, value)
    events = await collect(provider, user_request("hi"))
    seen = summarize(events)
    assert seen["text"].startswith("Hello from the Kiro simulator")
    assert isinstance(seen["error"], error_type)


async def test_script_reset_ends_with_stream_error(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, _ = await start_kiro_for_tests(nursery, tmp_path)
    seen = summarize(await collect(provider, user_request("[[reset-after 2]] hi")))
    assert isinstance(seen["error"], UpstreamError)


async def test_output_cap_is_max_tokens(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    sim.faults.exception = "ContentLengthExceededException"
    seen = summarize(await collect(provider, user_request("hi")))
    assert seen["error"] is None and seen["stop_reason"] == "max_tokens"


async def test_bearer_invalid_refreshes_once_and_retries(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    old = provider.auth.record["accessToken"]  # type: ignore[index]
    sim.accounts.revoke_access(old)
    seen = summarize(await collect(provider, user_request("hi")))
    assert seen["text"].startswith("Hello from")
    assert sim.accounts.refresh_calls == 1
    tokens = [r.headers["authorization"] for r in sim.generate_requests()]
    assert tokens[0] == f"Bearer {old}" and tokens[1] != tokens[0]
    attempts = [r.headers["amz-sdk-request"] for r in sim.generate_requests()]
    assert attempts == ["attempt=1; max=3", "attempt=2; max=3"]
    stored = TokenStore(tmp_path / "aiclient" / "kiro" / "token.json").load()
    assert stored is not None and stored["accessToken"] == tokens[1].removeprefix("Bearer ")


async def test_dead_refresh_token_makes_the_provider_unauthenticated(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    record = provider.auth.record
    assert record is not None
    sim.accounts.revoke_access(record["accessToken"])
    sim.accounts.revoke_refresh(record["refreshToken"])
    with pytest.raises(AuthenticationError) as caught:
        await collect(provider, user_request("hi"))
    assert "aiclient auth kiro" in caught.value.message
    assert record["refreshToken"] not in caught.value.message
    status = provider.status.value
    assert status.state == ProviderState.UNAUTHENTICATED and status.fix == "aiclient auth kiro"
    assert sim.accounts.refresh_calls == 1  # no loop of doomed refreshes


async def test_invalid_grant_rereads_the_import_source_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    cache = tmp_path / "sso-cache"
    cache.mkdir()
    rotated = sim.accounts.issue()
    sim.accounts.revoke_access(rotated["accessToken"])  # the IDE's access token expired too
    (cache / "kiro-auth-token.json").write_text(
        json.dumps(
            {
                "accessToken": rotated["accessToken"],
                "refreshToken": rotated["refreshToken"],
                "expiresAt": "2020-01-01T00:00:00.000Z",
                "authMethod": "social",
                "provider": "Github",
                "profileArn": rotated["profileArn"],
            }
        )
    )
    store = provider.auth.store
    record = store.save(
        {"source": {"kind": "kiro-ide", "path": str(cache / "kiro-auth-token.json")}}
    )
    provider.auth.load()
    sim.accounts.revoke_access(record["accessToken"])
    sim.accounts.revoke_refresh(record["refreshToken"])  # the IDE rotated it
    seen = summarize(await collect(provider, user_request("hi")))
    assert seen["text"].startswith("Hello from")
    assert sim.accounts.refresh_calls == 2  # ours (invalid_grant), then the re-imported one
    stored = store.load()
    assert stored is not None and stored["provider"] == "Github"
    assert stored["refreshToken"] not in (record["refreshToken"], rotated["refreshToken"])


async def test_refresh_is_single_flight(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    provider.auth.store.save({"expiresAt": "2020-01-01T00:00:00.000Z"})
    provider.auth.load()
    results: list[dict[str, Any]] = []

    async def one() -> None:
        results.append(summarize(await collect(provider, user_request("hi"))))

    async with trio.open_nursery() as inner:
        for _ in range(6):
            inner.start_soon(one)
    assert len(results) == 6 and all(r["error"] is None for r in results)
    assert sim.accounts.refresh_calls == 1
    assert len({r.headers["authorization"] for r in sim.generate_requests()}) == 1


async def test_identity_center_refresh_keeps_the_refresh_token(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await nursery.start(serve_kiro_simulator)
    _, client = await _register(sim)
    issued = sim.accounts.issue("idc")
    path = tmp_path / "token.json"
    TokenStore(path).save(
        {
            "accessToken": issued["accessToken"],
            "refreshToken": issued["refreshToken"],
            "expiresAt": "2020-01-01T00:00:00Z",
            "authMethod": "IdC",
            "region": "us-east-2",
            "clientId": client["clientId"],
            "clientSecret": client["clientSecret"],
            "someFutureField": {"kept": True},
        }
    )
    provider = KiroProvider(kiro_config(sim), token_path=path)
    try:
        seen = summarize(await collect(provider, user_request("hi")))
    finally:
        await provider.aclose()
    assert seen["error"] is None
    stored = TokenStore(path).load()
    assert stored is not None
    assert stored["refreshToken"] == issued["refreshToken"]
    assert stored["accessToken"] != issued["accessToken"]
    assert stored["someFutureField"] == {"kept": True}
    # Identity Center: the profile comes from ListAvailableProfiles (once, then cached).
    assert sim.generate_requests()[0].json()["profileArn"].endswith("/IDCSIMULATED")
    assert sim.generate_requests()[0].headers["tokentype"] == "SSO_OIDC"


async def _register(sim: Any) -> tuple[int, dict[str, Any]]:
    status, body, _ = sim.accounts.register_client({})
    return status, body


async def test_size_guard_never_calls_upstream(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path, max_request_bytes=2000)
    with pytest.raises(ContextLengthExceeded, match="prompt is too long"):
        await collect(provider, user_request("x" * 3000))
    assert sim.generate_requests() == []


async def test_models_come_from_the_service(nursery: trio.Nursery, tmp_path: Path) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    ids = [m.id for m in provider.models()]
    assert ids == [m["modelId"] for m in sim.models]
    wide = provider.resolve_model("claude-sonnet-4-6")
    assert wide.context_window == 1_000_000
    assert provider.resolve_model("claude-sonnet-4-5-20250929").id == "claude-sonnet-4.5"
    assert provider.resolve_model("claude-opus-4-8-20260915[1m]").id == "claude-opus-4.8"
    assert provider.resolve_model("gpt-5-6-sol").id == "gpt-5.6-sol"
    assert provider.resolve_model("claude-opus-4-6").premium_multiplier == 2.2
    with pytest.raises(NotFound, match=r"Did you mean: .*kiro/claude-opus-5"):
        provider.resolve_model("claude-opus-6")  # not on this account's list
    sim.models = [m for m in sim.models if m["modelId"] != "gpt-5.6-luna"]
    await provider.refresh_models()
    with pytest.raises(NotFound):
        provider.resolve_model("gpt-5.6-luna")  # the live list wins
    quota = await provider.quota()
    assert quota is not None and quota["limit"] == 50.0 and quota["unit"] == "credits"
    assert quota["subscription"] == "KIRO FREE" and quota["resets_at"]


async def test_client_disconnect_cancels_the_upstream_call(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
    sim.faults.hold_after_frames = 2
    ctx = _ctx()
    model = provider.resolve_model("claude-sonnet-4.5")
    async with provider.open_stream(user_request("hi"), model, ctx) as events:
        async for event in events:
            if isinstance(event, ir.TextDelta):
                break  # the client went away mid-answer
    with trio.fail_after(5):
        await sim.disconnects.wait_value(lambda count: count >= 1)
    assert sim.completed_streams == 0


async def test_not_signed_in(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = await nursery.start(serve_kiro_simulator)
    provider = KiroProvider(kiro_config(sim), token_path=tmp_path / "none.json")
    try:
        await nursery.start(provider.run)
        status = provider.status.value
        assert status.state == ProviderState.UNAUTHENTICATED
        assert status.fix == "aiclient auth kiro"
        with pytest.raises(AuthenticationError, match="aiclient auth kiro"):
            await collect(provider, user_request("hi"))
    finally:
        await provider.aclose()


@pytest.mark.parametrize(("stall_ms", "times_out"), [(5_000, False), (60_000, True)])
async def test_stall_against_the_idle_timeout(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
    stall_ms: int,
    times_out: bool,
) -> None:
    provider, _ = await start_kiro_for_tests(nursery, tmp_path)  # idle timeout: 10 s
    start = trio.current_time()
    seen = summarize(await collect(provider, user_request(f"[[stall-ms {stall_ms}]] hi")))
    if times_out:
        assert isinstance(seen["error"], UpstreamTimeout)
        assert trio.current_time() - start == pytest.approx(10.0, abs=0.5)
    else:
        assert seen["error"] is None and seen["text"].startswith("Hello from")
        assert trio.current_time() - start == pytest.approx(5.0, abs=0.5)
