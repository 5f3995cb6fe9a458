"""Fallback chains, circuit breakers and per-client rate limiting through the real server
(scripted providers, real sockets)."""

from __future__ import annotations

from typing import Any

import httpx
import trio
import trio.testing
from fakes import (
    FakeProvider,
    Records,
    Script,
    load_json,
    make_gateway,
    open_raw_post,
    serve,
    text_events,
)

from aiclient_trio import ir
from aiclient_trio.config.types import Config, ServerConfig, UpstreamConfig
from aiclient_trio.errors import InvalidRequest, Overloaded, QuotaExceeded, UpstreamError
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.reliability import BreakerState
from aiclient_trio.server.app import create_app

CHAIN = ("copilot/fake-model", "kiro/fake-model")


def _setup(**upstream: Any) -> tuple[FakeProvider, FakeProvider, Any, Records]:
    copilot, kiro = FakeProvider("copilot"), FakeProvider("kiro")
    limits = UpstreamConfig(retries=0, **upstream)
    gateway = make_gateway(copilot, kiro, config=Config(upstream=limits, aliases={"smart": CHAIN}))
    return copilot, kiro, gateway, Records(gateway)


async def _chat(client: httpx.AsyncClient, model: str = "smart", **extra: Any) -> httpx.Response:
    return await client.post(
        "/v1/chat/completions", json=load_json("chat_request.json", model=model, **extra)
    )


async def test_chain_falls_back_before_the_first_byte_and_records_it() -> None:
    copilot, kiro, gateway, records = _setup()
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        for error in (Overloaded("busy"), QuotaExceeded("out of premium requests")):
            copilot.scripts["fake-model"] = Script(error=error)
            response = await _chat(client)
            assert response.status_code == 200 and response.content.endswith(b"[DONE]\n\n")
            assert b'"error"' not in response.content
        # A provider that is not ready (signed out) is skipped.
        copilot.set_status(ProviderState.UNAUTHENTICATED, "signed out", "aiclient auth copilot")
        response = await _chat(client)
        assert response.status_code == 200
        copilot.set_status(ProviderState.READY)
        # A mistake in the request is not the provider's: no fallback, the client hears it.
        copilot.scripts["fake-model"] = Script(error=InvalidRequest("bad tool schema"))
        response = await _chat(client, stream=False)
        assert response.status_code == 400
        # After the first byte nothing is replayed elsewhere: the stream ends in an error.
        broken = [*text_events()[:3], ir.StreamError(UpstreamError("connection reset"))]
        copilot.scripts["fake-model"] = Script(events=broken)
        response = await _chat(client)
        assert response.status_code == 200 and b'"error"' in response.content
        # Every target failing: the client gets the last target's error.
        copilot.scripts["fake-model"] = Script(error=Overloaded("busy"))
        kiro.scripts["fake-model"] = Script(error=UpstreamError("kiro down"))
        response = await _chat(client, stream=False)
        assert response.status_code == 502 and "kiro down" in response.text
    recs = await records.wait(6)
    assert [r.provider for r in recs] == ["kiro", "kiro", "kiro", "copilot", "copilot", "kiro"]
    assert recs[0].fallback_from == ("copilot/fake-model",)
    assert recs[3].fallback_from == () and recs[4].fallback_from == ()
    assert len(kiro.calls) == 4


async def test_circuit_opens_skips_the_provider_then_probes_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    copilot, _, gateway, records = _setup(circuit_failures=2, circuit_cooldown=0.3)
    copilot.scripts["fake-model"] = Script(error=UpstreamError("bad gateway"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        for _ in range(2):
            assert (await _chat(client)).status_code == 200
        breaker = gateway.reliability.breakers["copilot/fake-model"]
        assert breaker.state is BreakerState.OPEN
        calls = len(copilot.calls)
        response = await _chat(client)
        assert response.status_code == 200
        assert len(copilot.calls) == calls  # skipped while open
        # Asked for directly while open: refused at once with a retry hint.
        direct = await _chat(client, model="copilot/fake-model", stream=False)
        assert direct.status_code == 503 and "circuit open" in direct.text
        assert direct.headers["retry-after"] == "1"
        breaker.opened_at -= breaker.cooldown  # the cooldown is over (its timing: test_reliability)
        copilot.scripts["fake-model"] = Script()
        response = await _chat(client)
        assert response.status_code == 200
        assert len(copilot.calls) == calls + 1  # the probe went to copilot and worked
        recs = await records.wait(5)
        assert breaker.state is BreakerState.CLOSED
    assert recs[2].fallback_from == ("copilot/fake-model",) and recs[2].provider == "kiro"
    assert recs[4].provider == "copilot"


async def test_rate_limit_queues_then_refuses_and_a_queued_client_may_leave() -> None:
    provider = FakeProvider("copilot")
    # 6 per minute: one at once, the next waits 10 s in a queue of one, the third is refused.
    config = Config(server=ServerConfig(rate_limit_rpm=6, rate_limit_queue=1))
    gateway = make_gateway(provider, config=config)
    records = Records(gateway)
    # No User-Agent, like the raw socket client below: one bucket for both.
    plain = {"user-agent": ""}
    async with (
        serve(create_app(gateway)) as url,
        httpx.AsyncClient(base_url=url, headers=plain) as client,
    ):
        first = await _chat(client, model="fake-model")
        assert first.status_code == 200
        with trio.fail_after(5):
            waiting = await open_raw_post(
                url, "/v1/chat/completions", load_json("chat_request.json")
            )
            limiter = next(iter(gateway.reliability.limiters.values()))
            while not limiter.waiters:
                await trio.testing.wait_all_tasks_blocked()
            refused = await _chat(client, model="fake-model", stream=False)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert 10 <= int(refused.headers["retry-after"]) <= 20
        # Another client (another User-Agent) has its own bucket.
        async with httpx.AsyncClient(base_url=url, headers={"user-agent": "codex"}) as codex:
            assert (await _chat(codex, model="fake-model")).status_code == 200
        # The queued client hangs up: it leaves the queue and never reaches the upstream.
        await waiting.aclose()
        with trio.fail_after(5):
            recs = await records.wait(4)
        assert not limiter.waiters
    assert len(provider.calls) == 2
    # the gateway's own 429 is the client's doing, not the upstream's
    assert sorted(r.outcome for r in recs) == ["cancelled", "client_error", "ok", "ok"]
