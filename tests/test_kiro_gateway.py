"""Kiro through the gateway, each over real sockets.

kiro.md section 8.4 per client format, mid-stream faults in every format, the OpenAI SDKs'
two-turn tool loops and thinking against a `kiro/` model.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
import webbrowser
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
import trio.testing
from click.testing import CliRunner
from fakes import make_gateway, serve, start_ledger
from fault_kit import error_of
from kiro_helpers import (
    collect,
    kiro_config,
    kiro_gateway,
    start_kiro_for_tests,
    summarize,
    user_request,
    write_token,
)
from sdk_rounds import responses_tool_round, streamed_thinking
from test_faults_copilot import call
from test_faults_kiro import MODEL, kiro_rig

from aiclient_trio import ir
from aiclient_trio.cli.usage_report import format_quota
from aiclient_trio.config.types import Config, KiroConfig
from aiclient_trio.errors import ProviderUnavailable
from aiclient_trio.providers.kiro import KiroProvider, endpoints
from aiclient_trio.providers.kiro import client as kiro_client
from aiclient_trio.providers.kiro import commands as kiro_commands
from aiclient_trio.providers.kiro import credentials as kiro_credentials
from aiclient_trio.providers.kiro.auth import REFRESH_MARGIN, KiroAuth
from aiclient_trio.providers.kiro.convert import build_request, thinking_prefix
from aiclient_trio.providers.kiro.credentials import TokenStore, format_expires_at
from aiclient_trio.providers.kiro.login import LoginError
from aiclient_trio.providers.kiro.models import FALLBACK_MODELS
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator
from aiclient_trio.simulator.kiro_rules import check_request

# kiro.md 8.4: upstream answers -> (status, Anthropic error type, OpenAI type, OpenAI code,
# a fragment of the message).
HTTP_TABLE: dict[tuple[str, ...], tuple[int, str, str, str | None, str]] = {
    ("malformed",): (
        400,
        "invalid_request_error",
        "invalid_request_error",
        None,
        "Improperly formed request",
    ),
    ("too_long",): (
        400,
        "invalid_request_error",
        "invalid_request_error",
        "context_length_exceeded",
        "prompt is too long",
    ),
    ("invalid_model",): (
        404,
        "not_found_error",
        "invalid_request_error",
        "model_not_found",
        "not available",
    ),
    # Still refused after the one forced refresh and retry: the gateway's credential, not
    # the client's key, so a 503 naming the sign-in command (issue 14 item 6).
    ("bearer", "bearer"): (
        503,
        "api_error",
        "server_error",
        "service_unavailable",
        "aiclient auth kiro",
    ),
    ("forbidden",): (403, "permission_error", "permission_error", None, "not authorized"),
    ("quota",): (
        429,
        "rate_limit_error",
        "insufficient_quota",
        "insufficient_quota",
        "limit",
    ),
    ("throttle",): (
        429,
        "rate_limit_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "busy",
    ),
    ("internal",): (500, "api_error", "api_error", None, "unexpected error"),
}
FORMATS = ("anthropic", "openai_chat", "responses")
# Tests about error shapes, not time: the credential refresh in the table works in a thread,
# which the mock clock cannot see, so they run on the real clock with limits that only end a
# test that hangs (a loaded machine never reaches them).
NO_TIME_LIMITS = {"first_byte_timeout": 60.0, "idle_timeout": 60.0}
IDE_CACHE = Path(__file__).parent / "data" / "kiro" / "credentials" / "ide"


async def test_http_error_table_in_every_client_format(tmp_path: Path) -> None:
    async with kiro_rig(tmp_path, circuit_failures=0, **NO_TIME_LIMITS) as rig:
        for faults, expected in HTTP_TABLE.items():
            status, anthropic_type, openai_type, openai_code, fragment = expected
            for fmt in FORMATS:
                for stream in (False, True):
                    rig.sim.faults.http_errors.extend(faults)
                    response = await call(rig.url, fmt, MODEL, stream)
                    where = f"{faults} {fmt} stream={stream}: {response.text[:300]}"
                    # Refused before the first byte: a real status, not a 200 stream.
                    assert response.status_code == status, where
                    error = error_of(fmt, response)
                    assert fragment in error["message"], where
                    if fmt == "anthropic":
                        assert error["type"] == anthropic_type, where
                    else:  # Responses refusals before the stream use the OpenAI error body
                        assert (error["type"], error["code"]) == (openai_type, openai_code), where
                    if faults == ("quota",):
                        assert response.headers["x-should-retry"] == "false", where
                    if faults == ("throttle",):
                        assert response.headers["retry-after"] == "2", where
                    assert rig.sim.faults.http_errors == [], where


async def test_mid_stream_exception_and_error_frames_in_every_format(tmp_path: Path) -> None:
    """S6 and S8 after partial output: the status stays 200, the stream ends in an error of
    the right type in the client's own shape."""
    cases = [
        ("exception", "ThrottlingException", "rate_limit_error", "rate_limit_exceeded"),
        ("error_frame", True, "api_error", "server_error"),
    ]
    async with kiro_rig(tmp_path, circuit_failures=0, **NO_TIME_LIMITS) as rig:
        for switch, value, anthropic_type, responses_code in cases:
            for fmt in FORMATS:
                setattr(rig.sim.faults, switch, value)
                response = await call(rig.url, fmt, MODEL, True)
                where = f"{switch} {fmt}: {response.text[-300:]}"
                assert response.status_code == 200, where
                partial = {
                    "anthropic": "text_delta",
                    "openai_chat": '"delta": {"content": "',
                    "responses": "response.output_text.delta",
                }[fmt]
                assert partial in response.text, where  # the error follows partial output
                error = error_of(fmt, response)
                if fmt == "anthropic":
                    assert error["type"] == anthropic_type, where
                elif fmt == "responses":
                    assert error["code"] == responses_code, where
                setattr(rig.sim.faults, switch, None if switch == "exception" else False)


async def test_output_cap_is_a_normal_end_in_every_format(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """S7: ContentLengthExceededException is max_tokens / length / incomplete, not an error."""
    async with kiro_rig(tmp_path) as rig:
        rig.sim.faults.exception = "ContentLengthExceededException"
        messages = await call(rig.url, "anthropic", MODEL, False)
        assert messages.status_code == 200, messages.text
        assert messages.json()["stop_reason"] == "max_tokens"
        chat = await call(rig.url, "openai_chat", MODEL, False)
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["finish_reason"] == "length"
        responses = await call(rig.url, "responses", MODEL, False)
        assert responses.status_code == 200, responses.text
        assert responses.json()["status"] == "incomplete"
        assert responses.json()["incomplete_details"]["reason"] == "max_output_tokens"
        streamed = await call(rig.url, "anthropic", MODEL, True)
        assert b"event: error" not in streamed.content
        assert b'"stop_reason":"max_tokens"' in streamed.content.replace(b" ", b"")
        assert rig.sim.violations == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_frames_split_at_every_byte_in_every_format(
    tmp_path: Path, fmt: str, autojump_clock: trio.testing.MockClock
) -> None:
    """S10a through the whole daemon: one byte per TCP write gives the ordinary answer."""
    async with kiro_rig(tmp_path) as rig:
        plain = await call(rig.url, fmt, MODEL, False)
        rig.sim.faults.chunk_size = 1
        split = await call(rig.url, fmt, MODEL, False)
        assert plain.status_code == split.status_code == 200, split.text
        assert "Hello from the Kiro simulator" in split.text

        def text_of(response: Any) -> str:
            data = response.json()
            if fmt == "anthropic":
                return str(data["content"][0]["text"])
            if fmt == "openai_chat":
                return str(data["choices"][0]["message"]["content"])
            return str(data["output"][0]["content"][0]["text"])

        assert text_of(split) == text_of(plain)


WEATHER_PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ASK = '[[call get_weather {"city": "Oslo"}]] Weather?'


def _openai_conversations(url: str) -> dict[str, Any]:
    """Both OpenAI endpoints through the sync SDK (the async one leaves its SSE generators
    unclosed at [DONE], a ResourceWarning under trio): tool loops, streaming, thinking."""
    seen: dict[str, Any] = {}
    chat_tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER_PARAMS},
    }
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        first = client.chat.completions.create(
            model=MODEL,
            tools=[chat_tool],
            messages=[{"role": "user", "content": ASK}],  # type: ignore[list-item]
        )
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        seen["chat_first"] = (first.choices[0].finish_reason, call.function.arguments)  # type: ignore[union-attr]
        second = client.chat.completions.create(
            model=MODEL,
            tools=[chat_tool],  # type: ignore[list-item]
            messages=[
                {"role": "user", "content": ASK},
                first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[misc]
                {"role": "tool", "tool_call_id": call.id, "content": "-3 C and snowing"},
            ],
        )
        seen["chat_second"] = second.choices[0].message.content
        seen["chat_thinking"] = streamed_thinking(
            client, MODEL, "[[think Plan: add.]] 2+2?", fields=("reasoning_content",)
        )
        resp_tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMS}
        seen["responses_first"], seen["responses_second"] = responses_tool_round(
            client, MODEL, resp_tool, ASK, "-3 C"
        )
        thought = client.responses.create(
            model=MODEL, reasoning={"effort": "high"}, input="[[think Plan: add.]] 2+2?"
        )
        seen["responses_thinking"] = [item.model_dump() for item in thought.output]
    return seen


async def test_openai_sdks_two_turn_tool_loops_streaming_and_thinking(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(kiro_gateway(provider))) as url:
            seen = await trio.to_thread.run_sync(_openai_conversations, url)
        nursery.cancel_scope.cancel()
    assert seen["chat_first"][0] == "tool_calls"
    assert json.loads(seen["chat_first"][1]) == {"city": "Oslo"}
    assert seen["chat_second"].endswith("got the tool result: -3 C and snowing")
    assert seen["chat_thinking"][0] == "Plan: add."
    assert seen["chat_thinking"][1] and "<thinking>" not in seen["chat_thinking"][1]
    assert seen["responses_first"][0] == "get_weather"
    assert json.loads(seen["responses_first"][1]) == {"city": "Oslo"}
    assert seen["responses_second"].endswith("got the tool result: -3 C")
    kinds = [item["type"] for item in seen["responses_thinking"]]
    assert kinds[0] == "reasoning" and kinds[-1] == "message"
    assert "Plan: add." in json.dumps(seen["responses_thinking"][0])
    # The second turns reached Kiro as a real tool round-trip, not as text.
    bodies = [r.json()["conversationState"] for r in sim.generate_requests()]
    results = [
        b["currentMessage"]["userInputMessage"]
        .get("userInputMessageContext", {})
        .get("toolResults")
        for b in bodies
    ]
    assert [r[0]["content"][0]["text"] for r in results if r] == ["-3 C and snowing", "-3 C"]
    assert sim.violations == []


async def test_refresh_starts_when_under_ten_minutes_remain(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = TokenStore(path)
    async with httpx.AsyncClient() as http:
        auth = KiroAuth(KiroConfig(), http, store)
        for minutes_left, due in ((11, False), (9.5, True), (0, True)):
            store.save(
                {
                    "accessToken": "at",
                    "refreshToken": "rt",
                    "authMethod": "social",
                    "expiresAt": format_expires_at(time.time() + minutes_left * 60),
                },
                replace=True,
            )
            assert auth.load()
            assert auth.needs_refresh() is due, minutes_left
    assert REFRESH_MARGIN == 600.0


def test_api_region_comes_from_the_profile_arn_and_sign_in_region_stays_separate() -> None:
    config = KiroConfig()
    eu = "arn:aws:codewhisperer:eu-central-1:123456789012:profile/X"
    assert endpoints.region_of_arn(eu) == "eu-central-1"
    assert endpoints.region_of_arn(None) is None
    # A region that hosts no Kiro profiles is not an API region.
    assert endpoints.region_of_arn(eu.replace("eu-central-1", "us-east-2")) is None
    assert endpoints.region_of_arn(eu.replace("eu-central-1", "us-gov-west-1")) == "us-gov-west-1"
    runtime, q = endpoints.FAMILIES["runtime"], endpoints.FAMILIES["q"]
    assert (
        endpoints.chat_url(config, runtime, "eu-central-1")
        == "https://runtime.eu-central-1.kiro.dev"
    )
    assert endpoints.chat_url(config, q, "eu-central-1") == "https://q.eu-central-1.amazonaws.com"
    assert (
        endpoints.management_url(config, "eu-central-1")
        == "https://management.eu-central-1.kiro.dev"
    )
    # api_url still overrides the chat host (with no fallback).
    pinned = KiroConfig(api_url="https://proxy.example/kiro/")
    assert endpoints.chat_url(pinned, runtime, "us-east-1") == "https://proxy.example/kiro"
    assert [f.name for f in endpoints.family_order(pinned, None)] == ["runtime"]
    # The Identity Center refresh goes to the token's own (sign-in) region...
    assert kiro_client.oidc_base(config, "us-east-2") == "https://oidc.us-east-2.amazonaws.com"
    # ...and social refresh lives in us-east-1 whatever the API region is.
    assert kiro_client.social_base(config, "eu-central-1").startswith("https://prod.us-east-1.")


async def test_auth_kiro_command_signs_in_every_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aiclient auth kiro --builder-id | --start-url URL --region R | --social github` end to
    end against the simulator: code and URL shown, browser opened, progress while polling,
    the credential saved privately and usable."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        if "/login" in url:  # the social page: the user signs in, the callback is followed
            httpx.get(url, follow_redirects=True, timeout=10)
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    async with trio.open_nursery() as nursery:
        sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
        sim.accounts.device_interval = 1
        sim.accounts.device_auto_approve_after = 1
        config = KiroConfig(api_url=sim.base_url, auth_url=sim.base_url, oidc_url=sim.base_url)
        monkeypatch.setattr(kiro_commands, "_kiro_config", lambda: config)
        store = TokenStore(tmp_path / "aiclient" / "kiro" / "token.json")
        runs = [
            (["--builder-id"], "Builder ID", {"provider": "BuilderId", "region": "us-east-1"}),
            (
                ["--start-url", "https://corp.awsapps.com/start", "--region", "eu-west-1"],
                "Identity Center",
                {"provider": "Enterprise", "region": "eu-west-1"},
            ),
            (["--social", "github"], "github sign-in", {"provider": "Github"}),
        ]
        for args, origin, fields in runs:
            result = await trio.to_thread.run_sync(
                lambda args=args: CliRunner().invoke(kiro_commands.auth_command, args)
            )
            assert result.exit_code == 0, result.output
            assert f"kiro: signed in ({origin}" in result.output
            record = store.load()
            assert record is not None and fields.items() <= record.items()
            assert record["accessToken"] not in result.output
            assert record["refreshToken"] not in result.output
            if "--social" not in args:
                assert "Code: " in result.output and "waiting for approval" in result.output
                code = result.output.split("Code: ", 1)[1].split()[0]
                assert code and opened[-1].endswith(code)  # the browser got the code's URL
            assert store.path.stat().st_mode & 0o777 == 0o600
            assert store.path.parent.stat().st_mode & 0o777 == 0o700
        nursery.cancel_scope.cancel()
    assert len(opened) == 3
    assert sim.accounts.token_kind(record["accessToken"]) == "social"


def test_auth_kiro_without_flags_imports_or_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flag: the Kiro IDE cache is imported when present; with nothing to import the
    command asks how to sign in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(kiro_commands, "_kiro_config", KiroConfig)
    monkeypatch.setattr(kiro_credentials, "IDE_CACHE_DIR", IDE_CACHE)
    monkeypatch.setattr(kiro_credentials, "CLI_DB_PATHS", (tmp_path / "none.sqlite3",))
    imported = CliRunner().invoke(kiro_commands.auth_command, [])
    assert imported.exit_code == 0, imported.output
    assert f"imported from {IDE_CACHE / 'kiro-auth-token.json'}" in imported.output
    stored = TokenStore(tmp_path / "aiclient" / "kiro" / "token.json").load()
    assert stored is not None and stored["clientSecret"] == "EXAMPLEsecret"

    monkeypatch.setattr(kiro_credentials, "IDE_CACHE_DIR", tmp_path / "empty")
    chosen: list[tuple[str, str, str]] = []

    async def device(config: KiroConfig, url: str, region: str, browser: bool) -> Any:
        chosen.append((url, region, str(browser)))
        raise LoginError("stopped by the test")

    monkeypatch.setattr(kiro_commands, "_device", device)
    asked = CliRunner().invoke(
        kiro_commands.auth_command,
        ["--no-browser"],
        input="identity-center\nhttps://corp.awsapps.com/start\neu-west-1\n",
    )
    assert "No Kiro IDE or kiro-cli token found" in asked.output
    assert asked.exit_code == 1 and "stopped by the test" in asked.output
    assert chosen == [("https://corp.awsapps.com/start", "eu-west-1", "False")]


async def test_models_and_quota_reach_v1_models_and_v1_usage(tmp_path: Path) -> None:
    """ListAvailableModels -> /v1/models as kiro/<id> with limits (asked once, then cached);
    getUsageLimits -> the quota in /v1/usage."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="kiro"))
        await start_ledger(nursery, gateway, tmp_path / "usage.db")
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            listings = [(await http.get("/v1/models")).json() for _ in range(3)]
            usage = (await http.get("/v1/usage")).json()
        nursery.cancel_scope.cancel()
    assert listings[0] == listings[2]
    by_id = {m["id"]: m for m in listings[0]["data"]}
    for upstream in sim.models:
        entry = by_id[f"kiro/{upstream['modelId']}"]
        assert entry["owned_by"] == "kiro"
        assert entry["context_window"] == entry["max_input_tokens"] == upstream["window"]
        assert entry["max_tokens"] == upstream["output"]  # tokenLimits.maxOutputTokens
    assert by_id["kiro/claude-sonnet-4.6"]["context_window"] == 1_000_000
    assert by_id["kiro/gpt-5.6-sol"]["context_window"] == 272_000
    asked = sim.management_requests("ListAvailableModels")
    assert len(asked) == 1  # the listing is cached, not fetched per /v1/models call
    assert asked[0].json()["origin"] == "AI_EDITOR"
    assert asked[0].headers["x-amz-target"] == "KiroControlPlaneBearerService.ListAvailableModels"
    quota = usage["quota"]["kiro"]
    assert quota["limit"] == sim.credit_limit and quota["unit"] == "credits"
    assert quota["subscription"] == "KIRO FREE" and quota["overage"] == "DISABLED"
    # The line `aiclient status` and `aiclient usage` print for it.
    assert f"of {sim.credit_limit:g} credits left" in format_quota(quota)
    limits = sim.management_requests("GetUsageLimits")
    assert [r.json()["profileArn"] for r in limits] == [provider.auth.profile_arn]


async def test_fallback_model_list_when_the_service_cannot_list(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
        sim.models = []  # ListAvailableModels answers an empty list
        path = tmp_path / "token.json"
        write_token(path, sim.accounts.issue())
        provider = KiroProvider(kiro_config(sim), token_path=path)
        try:
            await nursery.start(provider.run)
            assert [m.id for m in provider.models()] == [m.id for m in FALLBACK_MODELS]
            assert provider.resolve_model("claude-sonnet-4-5-20250929").id == "claude-sonnet-4.5"
        finally:
            await provider.aclose()
        nursery.cancel_scope.cancel()
    assert sim.management_requests("ListAvailableModels")


async def test_kiro_ide_headers_on_every_request(tmp_path: Path) -> None:
    """kiro.md section 2: the Kiro IDE header set, a fresh invocation id per request, a
    per-account machine id, the configurable Kiro version."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path, kiro_version="0.7.45")
        for _ in range(2):
            assert summarize(await collect(provider, user_request("hi")))["error"] is None
        nursery.cancel_scope.cancel()
    first, second = (r.headers for r in sim.generate_requests())
    record = provider.auth.record
    assert record is not None
    machine = hashlib.sha256(record["profileArn"].encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", machine)
    for headers in (first, second):
        assert headers["content-type"] == "application/x-amz-json-1.0"
        assert headers["x-amz-target"] == "KiroRuntimeService.GenerateAssistantResponse"
        assert headers["amz-sdk-request"] == "attempt=1; max=3"
        assert headers["x-amzn-codewhisperer-optout"] == "true"
        assert headers["x-amzn-kiro-client-attribution"] == "kiro-ide"
        assert headers["x-amz-user-agent"] == f"aws-sdk-js/1.0.0 KiroIDE-0.7.45-{machine}"
        assert headers["user-agent"].startswith("aws-sdk-js/1.0.0 ua/2.1 os/")
        assert " api/kiroruntime#1.0.0 m/N " in headers["user-agent"]
        assert headers["user-agent"].endswith(f"KiroIDE-0.7.45-{machine}")
        assert str(uuid.UUID(headers["amz-sdk-invocation-id"])) == headers["amz-sdk-invocation-id"]
        assert "tokentype" not in headers  # social tokens send no TokenType
    assert first["amz-sdk-invocation-id"] != second["amz-sdk-invocation-id"]
    # Another account, another machine id; API-key credentials say so.
    other = kiro_client.machine_id({"profileArn": "arn:aws:codewhisperer:us-east-1:2:profile/Y"})
    assert other != machine
    api_key = endpoints.chat_headers(
        endpoints.FAMILIES["runtime"], "ksk_x", kind="api_key", machine=other, config=KiroConfig()
    )
    assert api_key["tokentype"] == "API_KEY"


def _text_request(system: str = "", **fields: Any) -> ir.Request:
    message = ir.Message("user", (ir.TextBlock("2+2?"),))
    blocks = (ir.TextBlock(system),) if system else ()
    return ir.Request(model="claude-sonnet-4.5", messages=(message,), system=blocks, **fields)


def test_thinking_budget_is_clamped_and_tags_are_not_doubled() -> None:
    """Rule 13: budget clamped to 1 024-24 576; tags already in the prompt are not added."""
    cases = {100: 1024, 4000: 4000, 100_000: 24_576}
    for budget, sent in cases.items():
        prefix = thinking_prefix(ir.ThinkingConfig("enabled", budget_tokens=budget))
        assert f"<max_thinking_length>{sent}</max_thinking_length>" in prefix
    tagged = "<thinking_mode>enabled</thinking_mode><max_thinking_length>2000</max_thinking_length>"
    built = build_request(
        _text_request(tagged, thinking=ir.ThinkingConfig("enabled", budget_tokens=8000)),
        model_id="claude-sonnet-4.5",
    )
    content = built.body["conversationState"]["currentMessage"]["userInputMessage"]["content"]
    assert content.count("<thinking_mode>") == 1 and "8000" not in content
    assert built.thinking  # the answer is still parsed for <thinking> tags


def test_parameters_without_an_upstream_field_are_accepted_and_not_sent() -> None:
    """Rule 11: max_tokens, temperature, top_p, top_k and stop sequences have no field."""
    plain = build_request(
        _text_request(),
        model_id="claude-sonnet-4.5",
        conversation_id="7b0e3f4a-9c1d-4e55-8a21-2f6d1c0b9e11",
    )
    tuned = build_request(
        _text_request(max_tokens=7, temperature=0.2, top_p=0.5, top_k=3, stop_sequences=("END",)),
        model_id="claude-sonnet-4.5",
        conversation_id="7b0e3f4a-9c1d-4e55-8a21-2f6d1c0b9e11",
    )
    assert tuned.body == plain.body
    assert check_request(tuned.body) is None


PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


async def test_anthropic_sdk_streams_native_reasoning_and_sends_an_image(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=Config(default_provider="kiro"))
        async with serve(create_app(gateway)) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                sim.faults.native_reasoning = True
                async with client.messages.stream(
                    model=MODEL,
                    max_tokens=4096,
                    thinking={"type": "enabled", "budget_tokens": 2048},
                    messages=[{"role": "user", "content": "[[think Plan it.]] hi"}],
                ) as stream:
                    kinds = [event.type async for event in stream]
                    thought = await stream.get_final_message()
                sim.faults.native_reasoning = False
                seen = await client.messages.create(
                    model=MODEL,
                    max_tokens=64,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                                {"type": "text", "text": "What is this?"},
                            ],
                        }
                    ],
                )
        nursery.cancel_scope.cancel()
    assert "signature" in kinds and "thinking" in kinds
    block = thought.content[0]
    assert block.type == "thinking" and block.thinking == "Plan it."
    assert block.signature.startswith("sig-")
    assert thought.content[-1].type == "text"
    assert "What is this?" in seen.content[0].text  # type: ignore[union-attr]
    current = sim.generate_requests()[-1].json()["conversationState"]["currentMessage"]
    assert current["userInputMessage"]["images"] == [{"format": "png", "source": {"bytes": PNG}}]
    assert sim.violations == []


def test_bearer_invalid_is_recognised_on_401_and_403_only() -> None:
    said = b'{"message":"The bearer token included in the request is invalid."}'
    assert kiro_client.is_bearer_invalid(401, said)
    assert kiro_client.is_bearer_invalid(403, said)
    assert not kiro_client.is_bearer_invalid(400, said)
    assert not kiro_client.is_bearer_invalid(403, b'{"message":"User is not authorized."}')
    error = kiro_client.map_http_error(401, said, {})
    assert isinstance(error, ProviderUnavailable) and error.status == 503
    assert "aiclient auth kiro" in error.message
    plain = kiro_client.map_http_error(401, b'{"message":"x"}', {})
    assert plain.status == 503 and not plain.message.startswith("Kiro: x")
    assert "Kiro refused the gateway's credential (HTTP 401: x)" in plain.message
