"""Copilot auth and error answers read by meaning, not status (docs/copilot.md, 2026).

The token exchange's 403 is either "no seat" (`error_details`) or GitHub's rate limit (a
message); CAPI's 401 and 403 both mean "new token, replay once"; 503
`upstream_provider_rate_limit` is a rate limit; quota codes match by prefix. Each case is
played by the simulators and seen through the official SDKs where a client sees it.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import trio
import trio.testing
from copilot_helpers import start_copilot_for_tests, start_provider, start_simulators
from fakes import make_gateway, serve

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot import CopilotSimulator
from aiclient_trio.simulator.copilot_kit import Faults, SimState

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


def _exchanges(sim: CopilotSimulator) -> int:
    return len(sim.state.recorded("github", "/copilot_internal/v2/token"))


async def test_a_rate_limited_exchange_at_start_is_retried_not_signed_out(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery, SimState(faults=Faults(exchange_rate_limited=1)))
    start = trio.current_time()
    provider = await start_provider(nursery, tmp_path, sim)
    status = provider.status.value
    assert status.state == ProviderState.ERROR  # not "unauthenticated": nothing to sign in
    assert "rate-limited" in (status.reason or "")
    await provider.status.wait_value(lambda s: s.state == ProviderState.READY)
    waited = trio.current_time() - start
    assert 60 <= waited <= 75  # GitHub's retry-after, plus jitter
    assert _exchanges(sim) == 2


async def test_a_rate_limited_refresh_keeps_the_provider_ready_while_the_token_is_valid(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    provider = await start_provider(nursery, tmp_path, sim)
    assert provider.tokens is not None
    states: list[ProviderState] = []

    async def watch() -> None:
        async for status in provider.status.eventual_values():
            states.append(status.state)

    nursery.start_soon(watch)
    sim.state.faults.exchange_rate_limited = 3
    first = provider.tokens.current
    start = trio.current_time()
    await provider.tokens.changed.wait()  # the refresh that finally got through
    # Refresh at 1440 s, then three refusals each followed by >= 60 s of backoff.
    assert 1440 + 3 * 60 <= trio.current_time() - start <= 1440 + 3 * 75 + 10
    assert provider.tokens.current is not first
    assert _exchanges(sim) == 5
    assert set(states) <= {ProviderState.READY, ProviderState.REFRESHING}
    assert provider.status.value.state == ProviderState.READY
    nursery.cancel_scope.cancel()


async def test_no_seat_still_signs_out_with_the_fix(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery, SimState(no_seat={"gho_test"}))
    provider = await start_provider(nursery, tmp_path, sim)
    status = provider.status.value
    assert status.state == ProviderState.UNAUTHENTICATED
    assert "no Copilot access" in (status.reason or "")
    assert status.fix == "aiclient auth copilot"
    nursery.cancel_scope.cancel()


async def test_capi_403_refreshes_the_token_and_replays_once(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.forbid_copilot_tokens()
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            async with client:
                reply = await client.chat.completions.create(
                    model="copilot/gpt-4.1",
                    messages=HI,  # type: ignore[arg-type]
                )
                assert "Copilot simulator" in (reply.choices[0].message.content or "")
                # A 403 on the fresh token too: one replay only, then the client's error.
                sim.state.forbid_copilot_tokens()
                sim.state.faults.queue_error(403, {"error": {"message": "no", "code": "x"}})
                with pytest.raises(openai.PermissionDeniedError):
                    await client.chat.completions.create(
                        model="copilot/gpt-4.1",
                        messages=HI,  # type: ignore[arg-type]
                    )
        nursery.cancel_scope.cancel()
    calls = sim.state.recorded("copilot", "/chat/completions")
    assert len(calls) == 4
    tokens = [c.headers["authorization"] for c in calls]
    assert tokens[0] != tokens[1] and tokens[2] != tokens[3]
    assert _exchanges(sim) == 3


async def test_503_upstream_provider_rate_limit_is_a_rate_limit(tmp_path: Path) -> None:
    config = Config(upstream=UpstreamConfig(retries=0))
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.faults.queue_upstream_rate_limit(retry_after=7)
        async with serve(create_app(make_gateway(provider, config=config))) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
            async with client:
                with pytest.raises(anthropic.RateLimitError) as caught:
                    await client.messages.create(
                        model="copilot/claude-sonnet-4.5",
                        max_tokens=32,
                        messages=HI,  # type: ignore[arg-type]
                    )
        nursery.cancel_scope.cancel()
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "7"
    assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "high demand" in error.message


async def test_503_upstream_provider_rate_limit_is_retried_after_its_retry_after(
    tmp_path: Path,
) -> None:
    # A client without a retry loop of its own (no x-stainless-retry-count): the gateway
    # retries after the retry-after.
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.faults.queue_upstream_rate_limit(retry_after=0)
        async with (
            serve(create_app(make_gateway(provider))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            reply = await http.post(
                "/v1/chat/completions", json={"model": "copilot/gpt-4.1", "messages": HI}
            )
        nursery.cancel_scope.cancel()
    assert reply.status_code == 200, reply.text
    assert "Copilot simulator" in reply.json()["choices"][0]["message"]["content"]
    assert len(sim.state.recorded("copilot", "/chat/completions")) == 2


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("quota_exceeded", "allow overage"),
        ("quota_exceeded_monthly", "allow overage"),  # matched by prefix
        ("free_quota_exceeded", "Copilot Free"),
        ("overage_limit_reached", "overage budget"),
        ("billing_not_configured", "payment method"),
    ],
)
async def test_quota_codes_by_prefix_are_final_client_errors(
    tmp_path: Path, code: str, advice: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.faults.queue_quota(code, reset="Wed, 01 Jan 2031 00:00:00 GMT")
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=2)
            async with client:
                with pytest.raises(openai.RateLimitError) as caught:
                    await client.chat.completions.create(
                        model="copilot/gpt-4.1",
                        messages=HI,  # type: ignore[arg-type]
                    )
        nursery.cancel_scope.cancel()
    error = caught.value
    assert error.code == "insufficient_quota"
    assert error.response.headers["x-should-retry"] == "false"
    assert code in error.message and advice in error.message
    assert int(error.response.headers["retry-after"]) > 86400  # until the reset date
    assert len(sim.state.recorded("copilot", "/chat/completions")) == 1  # no retries
