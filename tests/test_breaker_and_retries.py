"""Issue 14 items 9 and 10: a failing model opens its own circuit (not the whole provider's)
and /readyz and /metrics show it; a client that retries by itself (the official SDKs say so
with `x-stainless-retry-count`) gets an upstream 429, 5xx or reset at once with a retry-after,
so the retries do not multiply."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import trio
from fakes import FakeProvider, Script, make_gateway, serve
from test_faults_copilot import NO_TIME_LIMITS, _config, body, copilot_rig

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.errors import RateLimited
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.reliability import BreakerState
from aiclient_trio.server.app import create_app
from aiclient_trio.server.failover import client_will_retry


def _chat_calls(rig_state: object) -> int:
    return sum(r.path == "/chat/completions" for r in rig_state.requests)  # type: ignore[attr-defined]


async def test_resets_on_one_model_open_only_that_models_circuit(tmp_path: Path) -> None:
    config = _config(retries=0, circuit_failures=2, circuit_cooldown=60.0, **NO_TIME_LIMITS)
    async with copilot_rig(tmp_path, config) as rig:
        rig.gateway.metrics = GatewayMetrics(
            circuits=lambda: {t: str(b.state) for t, b in rig.gateway.reliability.breakers.items()}
        )
        async with httpx.AsyncClient(base_url=rig.url, timeout=30) as http:
            for _ in range(2):
                rig.sim.state.faults.queue_error(502, {"error": {"message": "upstream reset"}})
                failed = await http.post(
                    "/v1/chat/completions", json=body("openai_chat", "gpt-4o", False)
                )
                assert failed.status_code == 502, failed.text
            # gpt-4o's circuit is open: it fails fast without an upstream call...
            calls = _chat_calls(rig.sim.state)
            fast = await http.post(
                "/v1/chat/completions", json=body("openai_chat", "gpt-4o", False)
            )
            assert fast.status_code == 503 and "copilot/gpt-4o is failing" in fast.text
            assert _chat_calls(rig.sim.state) == calls
            # ...while the provider's other models still serve.
            other = await http.post(
                "/v1/chat/completions", json=body("openai_chat", "gpt-4.1", False)
            )
            assert other.status_code == 200, other.text
            ready = (await http.get("/readyz")).json()
            metrics = (await http.get("/metrics")).text
    assert ready["status"] == "ready"
    circuits = ready["providers"]["copilot"]["circuits"]
    assert list(circuits) == ["copilot/gpt-4o"]
    assert circuits["copilot/gpt-4o"]["state"] == "open"
    assert 0 < circuits["copilot/gpt-4o"]["retry_in"] <= 60
    assert 'aiclient_circuit_open{model="gpt-4o",provider="copilot"} 1' in metrics
    assert 'aiclient_circuit_open{model="gpt-4.1",provider="copilot"} 0' in metrics
    assert rig.gateway.reliability.breakers["copilot/gpt-4.1"].state is BreakerState.CLOSED


def test_the_official_sdks_announce_their_retries() -> None:
    """The header the rule keys on is what the SDKs send (checked on a real request)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": []})

    transport = httpx.MockTransport(handler)
    with openai.OpenAI(
        base_url="http://sdk.test/v1", api_key="x", http_client=httpx.Client(transport=transport)
    ) as client:
        client.models.list()
    headers = {k.lower(): v for k, v in seen[0].headers.items()}
    assert client_will_retry(headers)
    assert not client_will_retry({"user-agent": "curl/8"})


@pytest.mark.parametrize("sdk_retries", [0, 2])
async def test_an_upstream_429_is_not_retried_twice_over(tmp_path: Path, sdk_retries: int) -> None:
    """Three queued 429s: the SDK makes 1 + sdk_retries calls and the upstream sees exactly
    as many (before, each SDK call cost up to three upstream calls and their waits)."""
    async with copilot_rig(tmp_path, _config(retries=2, **NO_TIME_LIMITS)) as rig:
        for _ in range(3):
            rig.sim.state.faults.queue_error(
                429,
                {"error": {"message": "rate limited", "code": "rate_limited"}},
                {"retry-after": "0"},
            )
        before = _chat_calls(rig.sim.state)

        def sdk_call() -> openai.APIStatusError | None:
            with openai.OpenAI(
                base_url=rig.url + "/v1", api_key="x", max_retries=sdk_retries
            ) as client:
                try:
                    client.chat.completions.create(
                        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
                    )
                except openai.APIStatusError as error:
                    return error
            return None

        error = await trio.to_thread.run_sync(sdk_call)
        upstream_calls = _chat_calls(rig.sim.state) - before
    assert upstream_calls == 1 + sdk_retries
    if sdk_retries < 2:
        assert error is not None and error.status_code == 429
        assert error.response.headers["retry-after"] == "0"
    else:
        assert error is not None and error.status_code == 429  # three 429s, three SDK calls


async def test_a_client_that_does_not_retry_still_gets_the_gateways_retries() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(error=RateLimited("slow down", retry_after=0))
    gateway = make_gateway(provider, config=Config(upstream=UpstreamConfig(retries=2)))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
        plain = await http.post(
            "/v1/chat/completions", json=body("openai_chat", "fake-model", False)
        )
        assert plain.status_code == 429
        assert len(provider.calls) == 3  # ours: the first call and two retries
        sdk_like = await http.post(
            "/v1/chat/completions",
            json=body("openai_chat", "fake-model", False),
            headers={"x-stainless-retry-count": "0"},
        )
    assert sdk_like.status_code == 429
    assert len(provider.calls) == 4  # one call: the client retries by itself
    assert sdk_like.headers["retry-after"] == "0"


def _sdk_call(sdk: str, url: str, retries: int) -> anthropic.APIStatusError | openai.APIStatusError:
    """One call through an official SDK that retries `retries` times; its final error."""
    prompt = [{"role": "user", "content": "hi"}]
    try:
        if sdk == "openai":
            with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=retries) as oa:
                oa.chat.completions.create(model="gpt-4o", messages=prompt)  # type: ignore[arg-type]
        else:
            with anthropic.Anthropic(base_url=url, api_key="x", max_retries=retries) as an:
                an.messages.create(model="gpt-4o", max_tokens=64, messages=prompt)  # type: ignore[arg-type]
    except (openai.APIStatusError, anthropic.APIStatusError) as error:
        return error
    raise AssertionError("the call succeeded although every upstream attempt failed")


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", ["502", "reset before headers"])
async def test_upstream_5xx_and_resets_are_not_retried_twice_over(
    tmp_path: Path, sdk: str, fault: str
) -> None:
    """The whole transient class (5xx, a reset before the first byte), not only 429: an SDK
    that retries once makes two calls and the upstream sees two attempts, not six (the
    gateway's own two retries each time); each answer carries a short retry-after."""
    async with copilot_rig(tmp_path, _config(retries=2, **NO_TIME_LIMITS)) as rig:
        state = rig.sim.state
        if fault == "502":
            for _ in range(6):
                state.faults.queue_error(502, {"error": {"message": "bad gateway"}})
        else:
            await rig.proxy.set_mode("reset")
        chat_before, connections_before = _chat_calls(state), rig.proxy.connections
        error = await trio.to_thread.run_sync(_sdk_call, sdk, rig.url, 1)
        if fault == "502":
            attempts = _chat_calls(state) - chat_before
        else:
            attempts = rig.proxy.connections - connections_before
            await rig.proxy.set_mode("pass")
    assert attempts == 2, attempts
    assert error.status_code == 502
    assert error.response.headers["retry-after-ms"] == "1000"
