from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from copilot_helpers import ctx, load, start_copilot_for_tests, start_provider, start_simulators

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.errors import (
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
)
from aiclient_trio.formats import anthropic, openai_chat, responses
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.providers.copilot import CopilotProvider
from aiclient_trio.providers.copilot.auth import StoredCredential, save_credential
from aiclient_trio.simulator.copilot import CopilotSimulator
from aiclient_trio.simulator.github import DEFAULT_QUOTA

PARSERS: dict[str, Any] = {
    "openai_chat": openai_chat,
    "anthropic": anthropic,
    "responses": responses,
}


def _body(fmt: str, model: str, text: str, **extra: Any) -> dict[str, Any]:
    if fmt == "responses":
        return {"model": model, "input": text, "stream": True, **extra}
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": True}
    if fmt == "anthropic":
        body["max_tokens"] = 256
    return body | extra


async def _relay(provider: CopilotProvider, fmt: str, body: dict[str, Any]) -> bytes:
    model = provider.resolve_model(body["model"])
    assert provider.passthrough(model, fmt)  # type: ignore[arg-type]
    async with provider.open_passthrough(body, model, ctx(fmt, body["model"])) as response:
        assert response.status == 200
        return b"".join([chunk async for chunk in response.body])


async def _translate(
    provider: CopilotProvider, fmt: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[ir.StreamEvent]:
    model = provider.resolve_model(body["model"])
    request = PARSERS[fmt].parse_request(body)
    async with provider.open_stream(request, model, ctx(fmt, body["model"], headers)) as events:
        return [event async for event in events]


def _relayed_text(raw: bytes) -> str:
    """The answer text of a relayed stream of any of the three formats."""
    out = []
    for event in SSEDecoder().feed(raw):
        if event.data == "[DONE]":
            continue
        data = json.loads(event.data)
        for choice in data.get("choices") or []:
            out.append(choice.get("delta", {}).get("content") or "")
        if data.get("type") == "content_block_delta":
            out.append(data["delta"].get("text", ""))
        if data.get("type") == "response.output_text.delta":
            out.append(data["delta"])
    return "".join(out)


def _text(events: list[ir.StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ir.TextDelta))


@pytest.fixture
async def copilot(
    nursery: trio.Nursery, tmp_path: Path
) -> tuple[CopilotProvider, CopilotSimulator]:
    return await start_copilot_for_tests(nursery, tmp_path)


# --------------------------------------------------------------------------- lifecycle


async def test_ready_with_models_and_quota(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    assert provider.status.value.state == ProviderState.READY
    models = {m.id: m for m in provider.models()}
    assert models["claude-sonnet-4.5"].upstream_formats == ("openai_chat", "anthropic")
    assert models["gpt-5-codex"].upstream_formats == ("responses",)
    assert models["claude-opus-4.1"].enabled is False
    assert models["text-embedding-3-small"].kind == "embeddings"
    listing = sim.state.recorded("copilot", "/models")[0]
    assert listing.headers["authorization"].startswith("Bearer tid=sim1;")
    assert listing.headers["openai-intent"] == "model-access"
    assert "x-initiator" not in listing.headers, "only chat calls carry the billing header"
    quota = await provider.quota()
    assert quota is not None
    assert (quota["remaining"], quota["limit"]) == (120, 300)
    assert quota["resets_at"] == DEFAULT_QUOTA["quota_reset_date"]
    assert quota["unlimited"] is False


@pytest.mark.parametrize(
    ("token", "setup", "reason"),
    [
        (None, None, "not signed in"),
        ("gho_revoked", "revoked", "revoked"),
        ("gho_noseat", "no_seat", "no Copilot access"),
    ],
)
async def test_unauthenticated_with_reason_and_fix(
    nursery: trio.Nursery, tmp_path: Path, token: str | None, setup: str | None, reason: str
) -> None:
    sim = await start_simulators(nursery)
    if token:
        sim.state.github_tokens.add(token)
        getattr(sim.state, str(setup)).add(token)
    provider = await start_provider(nursery, tmp_path, sim, github_token=token)
    status = provider.status.value
    assert status.state == ProviderState.UNAUTHENTICATED
    assert reason in (status.reason or "")
    assert status.fix == "aiclient auth copilot"
    with pytest.raises(ProviderUnavailable) as unavailable:
        provider.resolve_model("gpt-4.1")  # no models while signed out
    assert "aiclient auth copilot" in unavailable.value.message
    # Signing in (a new credential file) brings the provider up without a restart.
    save_credential(StoredCredential("gho_test"), tmp_path / "copilot")
    provider.credentials_changed()
    await provider.status.wait_value(lambda s: s.state == ProviderState.READY)
    nursery.cancel_scope.cancel()


async def test_refresh_at_refresh_in_minus_60_then_revocation(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    provider = await start_provider(nursery, tmp_path, sim)
    assert provider.tokens is not None
    refreshes: list[bool] = []
    provider.refresh_listeners.append(lambda name, ok: refreshes.append(ok))
    start = trio.current_time()
    await provider.tokens.changed.wait()
    assert 1440 <= trio.current_time() - start < 1441
    assert provider.tokens.exchanges == 2
    # Transient failures are retried with backoff; the provider stays usable meanwhile.
    sim.state.faults.token_failures = 2
    await provider.tokens.changed.wait()
    assert provider.tokens.exchanges == 3
    assert len(sim.state.recorded("github", "/copilot_internal/v2/token")) == 5
    assert refreshes == [True, False, False, True]  # what /metrics counts
    assert provider.status.value.state == ProviderState.READY
    # A revoked GitHub token makes the provider unauthenticated at the next refresh.
    sim.state.revoked.add("gho_test")
    await provider.status.wait_value(lambda s: s.state == ProviderState.UNAUTHENTICATED)
    assert "revoked" in (provider.status.value.reason or "")
    nursery.cancel_scope.cancel()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


async def test_401_refreshes_once_and_replays_once(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    sim.state.expire_copilot_tokens()
    raw = await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "hello"))
    assert "Copilot simulator" in _relayed_text(raw)
    calls = sim.state.recorded("copilot", "/chat/completions")
    assert len(calls) == 2
    assert calls[0].headers["authorization"] != calls[1].headers["authorization"]
    assert calls[1].headers["authorization"].startswith("Bearer tid=sim2;")
    assert provider.tokens is not None and provider.tokens.exchanges == 2
    # Twice in a row: one refresh, one replay, then the client gets a clear 503.
    sim.state.faults.queue_error(401, "unauthorized: token expired")
    sim.state.faults.queue_error(401, "unauthorized: token expired")
    with pytest.raises(ProviderUnavailable):
        await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "hello"))
    assert provider.tokens.exchanges == 3
    assert len(sim.state.recorded("copilot", "/chat/completions")) == 4


# --------------------------------------------------------------------------- routing


ROUTES = [
    # inbound, model, passthrough?, upstream path
    ("anthropic", "claude-sonnet-4-5-20250929", True, "/v1/messages"),
    ("anthropic", "gpt-4o", False, "/chat/completions"),
    ("anthropic", "gpt-5-codex", False, "/responses"),
    ("openai_chat", "gpt-4o", True, "/chat/completions"),
    ("openai_chat", "claude-sonnet-4.5", True, "/chat/completions"),
    ("openai_chat", "gpt-5-codex", False, "/responses"),
    ("responses", "gpt-5-codex", True, "/responses"),
    ("responses", "gpt-4o", False, "/chat/completions"),
    ("responses", "claude-sonnet-4.5", False, "/chat/completions"),
]


@pytest.mark.parametrize(("fmt", "model", "native", "path"), ROUTES)
async def test_routing_per_supported_endpoints(
    copilot: tuple[CopilotProvider, CopilotSimulator], fmt: str, model: str, native: bool, path: str
) -> None:
    provider, sim = copilot
    info = provider.resolve_model(model)
    assert provider.passthrough(info, fmt) is native  # type: ignore[arg-type]
    body = _body(fmt, model, "route me")
    if native:
        raw = await _relay(provider, fmt, body)
        assert "You said: route me" in _relayed_text(raw)
    else:
        events = await _translate(provider, fmt, body)
        assert "You said: route me" in _text(events)
        assert isinstance(events[-1], ir.MessageStop)
    calls = [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]
    assert [c.path for c in calls] == [path], "one call, on an endpoint the model lists"
    assert calls[0].body["model"] == info.id


async def test_translation_tool_loop_and_thinking(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    tools = [{"name": "Read", "description": "read", "input_schema": {"type": "object"}}]
    body = _body("anthropic", "gpt-4o", 'read it [[call Read {"path": "a.txt"}]]', tools=tools)
    events = await _translate(provider, "anthropic", body)
    starts = [e.block for e in events if isinstance(e, ir.BlockStart)]
    call = next(b for b in starts if isinstance(b, ir.ToolUseBlock))
    assert call.name == "Read"
    args = "".join(e.partial_json for e in events if isinstance(e, ir.ToolInputDelta))
    assert json.loads(args) == {"path": "a.txt"}
    stop = next(e for e in events if isinstance(e, ir.MessageDelta))
    assert stop.stop_reason == "tool_use" and stop.usage.input_tokens > 0

    # Second turn: the tool result only -> agent, and the reply quotes the result.
    turn2 = dict(body)
    turn2["messages"] = [
        *body["messages"],
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call.id, "name": "Read", "input": {"path": "a.txt"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "file body"}],
        },
    ]
    events = await _translate(provider, "anthropic", turn2)
    assert "got the tool result: file body" in _text(events)
    upstream = sim.state.recorded("copilot", "/chat/completions")
    assert [c.headers["x-initiator"] for c in upstream] == ["user", "agent"]

    think = await _translate(
        provider, "responses", _body("responses", "claude-sonnet-4.5", "[[think deeply]] go")
    )
    assert "".join(e.thinking for e in think if isinstance(e, ir.ThinkingDelta)) == "deeply"
    assert [e.signature for e in think if isinstance(e, ir.SignatureDelta)] == ["sig-sim-opaque"]


# --------------------------------------------------------------------------- headers (F15)


F15 = load("initiator_f15.json")
_F15_MODEL = {
    "openai_chat": "gpt-4.1",
    "anthropic": "claude-sonnet-4.5",
    "responses": "gpt-5-codex",
}


async def test_f15_headers_recorded_by_the_simulator(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    for case in F15:
        fmt = case["format"]
        body = dict(case["body"]) | {"model": _F15_MODEL[fmt], "stream": True, "max_tokens": 64}
        if fmt == "responses":
            body.pop("max_tokens")
        model = provider.resolve_model(body["model"])
        try:
            async with provider.open_passthrough(body, model, ctx(fmt, body["model"])) as r:
                [chunk async for chunk in r.body]
        except GatewayError:
            pass  # e.g. a prefill the upstream refuses: the headers were still sent
        recorded = sim.state.requests[-1]
        assert recorded.headers["x-initiator"] == case["expect"], case["name"]
    token = provider.tokens.current.token if provider.tokens and provider.tokens.current else ""
    posts = [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]
    assert len(posts) == len(F15)
    for r in posts:
        assert r.headers["authorization"] == f"Bearer {token}"
        assert r.headers["editor-version"] == provider.config.copilot.editor_version
        assert r.headers["editor-plugin-version"] == provider.config.copilot.editor_plugin_version
        if r.path == "/v1/messages":  # as the official Claude proxy: no integration id
            assert "copilot-integration-id" not in r.headers
            assert r.headers["openai-intent"] == "messages-proxy"
        else:
            assert r.headers["copilot-integration-id"] == "vscode-chat"
            assert r.headers["openai-intent"] == "conversation-agent"
    assert len({r.headers["x-request-id"] for r in posts}) >= 1


async def test_vision_header_on_chat_calls_whose_history_has_an_image(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}
    body = {
        "model": "gpt-4.1",
        "stream": True,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is this"}, image]},
            {"role": "assistant", "content": "a dot"},
            {"role": "user", "content": "and now?"},
        ],
    }
    assert "You said: and now?" in _relayed_text(await _relay(provider, "openai_chat", body))
    assert sim.state.requests[-1].headers["copilot-vision-request"] == "true"
    anth = {
        "model": "gpt-4o",
        "max_tokens": 64,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                    },
                    {"type": "text", "text": "see"},
                ],
            },
        ],
    }
    assert "You said: see" in _text(await _translate(provider, "anthropic", anth))
    assert sim.state.requests[-1].headers["copilot-vision-request"] == "true"
    await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "no image"))
    assert "copilot-vision-request" not in sim.state.requests[-1].headers


async def test_native_bodies_are_adjusted_for_copilot(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    raw = await _relay(
        provider, "openai_chat", _body("openai_chat", "gpt-5-mini", "hi", max_tokens=99)
    )
    assert "You said: hi" in _relayed_text(raw)
    sent = sim.state.requests[-1].body
    assert sent["max_completion_tokens"] == 99 and "max_tokens" not in sent
    await _relay(
        provider, "responses", _body("responses", "gpt-5-codex", "hi", service_tier="flex")
    )
    sent = sim.state.requests[-1].body
    assert sent["store"] is False and "service_tier" not in sent
    body = _body("anthropic", "copilot/claude-sonnet-4-5-20250929", "hi")
    body["system"] = [
        {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "scope": "global"}}
    ]
    model = provider.resolve_model(body["model"])
    headers = {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    }
    async with provider.open_passthrough(body, model, ctx("anthropic", "x", headers)) as r:
        assert b"event: message_stop" in b"".join([c async for c in r.body])
    recorded = sim.state.requests[-1]
    assert recorded.body["model"] == "claude-sonnet-4.5"
    assert recorded.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert recorded.headers["anthropic-version"] == "2023-06-01"


# --------------------------------------------------------------------------- errors (F10)


async def test_f10_errors_through_the_provider(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    faults = sim.state.faults
    faults.queue_error(402, {"error": {"message": "You have no quota", "code": "quota_exceeded"}})
    with pytest.raises(QuotaExceeded) as quota:
        await _relay(provider, "anthropic", _body("anthropic", "claude-sonnet-4.5", "hi"))
    assert quota.value.should_retry is False
    with pytest.raises(RateLimited) as limited:
        await _translate(provider, "anthropic", _body("anthropic", "gpt-4o", "hi [[error 429]]"))
    assert limited.value.retry_after == 2.0
    with pytest.raises(ContextLengthExceeded) as overflow:
        await _translate(provider, "anthropic", _body("anthropic", "tiny-context", "x" * 400))
    assert overflow.value.message.startswith("prompt is too long: ")
    assert overflow.value.message.endswith(" tokens > 64 maximum")
    with pytest.raises(InvalidRequest) as unsupported:
        await _relay(provider, "openai_chat", _body("openai_chat", "claude-opus-4.1", "hi"))
    assert unsupported.value.code == "model_not_supported"
    assert "settings/copilot" in unsupported.value.message


async def test_mid_stream_reset_raises_or_ends_with_stream_error(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, _ = copilot
    body = _body("anthropic", "claude-sonnet-4.5", "x [[reset-after 4]]")
    model = provider.resolve_model(body["model"])
    received = []
    with pytest.raises(UpstreamError, match="broke off"):
        async with provider.open_passthrough(body, model, ctx("anthropic")) as response:
            async for chunk in response.body:
                received.append(chunk)
    assert b"message_start" in b"".join(received)
    events = await _translate(
        provider, "openai_chat", _body("openai_chat", "gpt-5-codex", "x [[reset-after 5]]")
    )
    assert isinstance(events[-1], ir.StreamError)
    assert not any(isinstance(e, ir.MessageStop) for e in events)


# --------------------------------------------------------------------------- embeddings


async def test_embeddings_float_and_base64(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, _ = copilot
    model = provider.resolve_model("text-embedding-3-small")
    floats = await provider.embeddings(
        {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"},
        model,
        ctx("openai_chat"),
    )
    b64 = await provider.embeddings(
        {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"},
        model,
        ctx("openai_chat"),
    )
    assert [d["index"] for d in b64["data"]] == [0, 1]
    for plain, packed in zip(floats["data"], b64["data"], strict=True):
        vector = plain["embedding"]
        decoded = struct.unpack(f"<{len(vector)}f", base64.b64decode(packed["embedding"]))
        assert decoded == pytest.approx(vector, rel=1e-6)
    assert floats["usage"]["prompt_tokens"] == 2


# --------------------------------------------------------------------------- disconnect


async def test_leaving_the_stream_cancels_the_upstream_call(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    body = _body("anthropic", "claude-sonnet-4.5", "wait [[stall-ms 60000]]")
    model = provider.resolve_model(body["model"])
    with trio.fail_after(10):
        async with provider.open_passthrough(body, model, ctx("anthropic")) as response:
            async for chunk in response.body:
                assert chunk.startswith(b": sim")
                break
        await sim.state.wait_for_disconnects(1)
    assert sim.state.disconnects == 1
    translated = _body("openai_chat", "gpt-5-codex", "wait [[stall-ms 60000]]")
    request = openai_chat.parse_request(translated)
    with trio.fail_after(10):
        async with provider.open_stream(
            request, provider.resolve_model("gpt-5-codex"), ctx("openai_chat")
        ):
            assert sim.state.open_streams == 2  # the upstream stream is live
        await sim.state.wait_for_disconnects(2)
    assert sim.state.disconnects == 2


async def test_secrets_never_reach_logs_or_errors(
    copilot: tuple[CopilotProvider, CopilotSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    provider, sim = copilot
    caplog.set_level(logging.DEBUG)
    sim.state.expire_copilot_tokens()
    await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "hi"))
    sim.state.faults.queue_error(401, "unauthorized: token expired")
    sim.state.faults.queue_error(401, "unauthorized: token expired")
    with pytest.raises(ProviderUnavailable) as failed:
        await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "hi"))
    assert provider.tokens is not None and provider.tokens.current is not None
    secrets = ("gho_test", "tid=sim", provider.tokens.current.token)
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in failed.value.message
        assert secret not in repr(provider.tokens.current)
        assert secret not in json.dumps(provider.status.value.to_json())


async def test_health_monitor_refreshes_models_and_quota_every_ttl(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    provider = await start_provider(nursery, tmp_path, sim, models_ttl=100.0)
    assert provider.models_version.value == 1
    start = trio.current_time()
    await provider.models_version.wait_value(lambda v: v >= 3)
    assert 200 <= trio.current_time() - start < 201
    assert len(sim.state.recorded("copilot", "/models")) == 3
    assert len(sim.state.recorded("github", "/copilot_internal/user")) >= 1
    nursery.cancel_scope.cancel()


async def test_revoked_during_a_401_replay_signs_the_provider_out(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    sim.state.revoked.add("gho_test")
    sim.state.expire_copilot_tokens()
    with pytest.raises(ProviderUnavailable, match="revoked"):
        await _relay(provider, "openai_chat", _body("openai_chat", "gpt-4.1", "hi"))
    status = provider.status.value
    assert status.state == ProviderState.UNAUTHENTICATED
    assert status.fix == "aiclient auth copilot"


async def test_mid_stream_error_object_ends_the_translation_with_stream_error(
    copilot: tuple[CopilotProvider, CopilotSimulator],
) -> None:
    provider, sim = copilot
    sim.state.faults.error_after_events = 2
    events = await _translate(provider, "anthropic", _body("anthropic", "gpt-4o", "hello there"))
    assert isinstance(events[-1], ir.StreamError)
    assert "upstream overloaded" in events[-1].error.message
    assert any(isinstance(e, ir.TextDelta) for e in events)
