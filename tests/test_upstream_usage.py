"""An Anthropic stream's message_start
carries an input-token estimate even when the upstream reports usage only at the end.
Upstream quotas in /v1/usage, Kiro credits in the ledger, refreshes in /metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import trio
from copilot_helpers import start_copilot_for_tests, stream_messages
from fakes import Records, make_gateway, serve, sse_events
from kiro_helpers import collect, start_kiro_for_tests, summarize, user_request

from aiclient_trio.errors import AuthenticationError
from aiclient_trio.ledger import Ledger
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.server.app import create_app

PROSE = "Please summarise the design of a local gateway for me. " * 40


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4.5"])
async def test_message_start_has_an_input_estimate(tmp_path: Path, model: str) -> None:
    response = await stream_messages(tmp_path, model, PROSE, timeout=30)
    events = sse_events(response.content)
    start = json.loads(events[0].data)
    assert events[0].event == "message_start"
    # ~440 o200k tokens of prose: the estimate (or the upstream's count) is in that range.
    assert start["message"]["usage"]["input_tokens"] >= 300
    delta = next(json.loads(e.data) for e in events if e.event == "message_delta")
    assert delta["usage"]["output_tokens"] > 0
    # Rendered streams repeat the input count; a native (passthrough) Anthropic upstream may
    # send only output_tokens here, as the real API does.
    assert delta["usage"].get("input_tokens", start["message"]["usage"]["input_tokens"]) >= 300
    assert events[-1].event == "message_stop"


async def test_usage_reports_both_providers_upstream_quota(tmp_path: Path) -> None:
    """Issue 7: /v1/usage shows Copilot premium requests left with the reset date and the
    Kiro usage limits, read from the (simulated) upstreams; a Kiro request records credits."""
    async with trio.open_nursery() as nursery:
        copilot, _ = await start_copilot_for_tests(nursery, tmp_path / "c")
        kiro, _ = await start_kiro_for_tests(nursery, tmp_path / "k")
        gateway = make_gateway(copilot, kiro)
        ledger = Ledger(tmp_path / "usage.db")
        gateway.ledger = ledger
        gateway.observers.append(ledger.record)
        records = Records(gateway)
        await nursery.start(ledger.run)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            body = {
                "model": "kiro/claude-sonnet-4.5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "hello"}],
            }
            assert (await http.post("/v1/messages", json=body, timeout=30)).status_code == 200
            await records.wait(1)  # the row is recorded as the exchange ends
            usage = (await http.get("/v1/usage", params={"group": "provider"})).json()
        nursery.cancel_scope.cancel()
    quota = usage["quota"]
    assert quota["copilot"]["remaining"] <= quota["copilot"]["limit"]
    assert quota["copilot"]["resets_at"]
    assert quota["kiro"]["unit"] == "credits" and quota["kiro"]["limit"] > 0
    kiro_row = next(g for g in usage["groups"] if g["key"] == "kiro")
    assert kiro_row["requests"] == 1 and kiro_row["credits"] > 0
    # The simulated Kiro reports tokenUsage: the row's numbers are exact, not estimates.
    assert kiro_row["input_tokens"] > 0 and kiro_row["output_tokens"] > 0
    assert kiro_row["estimated_rows"] == 0


async def test_kiro_credential_refreshes_reach_the_metrics(tmp_path: Path) -> None:
    """Issue 7: a real provider's refresh success and failure move the refresh counter."""
    metrics = GatewayMetrics()
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        provider.refresh_listeners.append(metrics.refresh_result)
        record = provider.auth.record
        assert record is not None
        sim.accounts.revoke_access(record["accessToken"])  # forces one good refresh
        assert summarize(await collect(provider, user_request("hi")))["error"] is None
        fresh = provider.auth.record
        assert fresh is not None
        sim.accounts.revoke_access(fresh["accessToken"])
        sim.accounts.revoke_refresh(fresh["refreshToken"])  # the next refresh fails
        with pytest.raises(AuthenticationError):
            await collect(provider, user_request("hi"))
        nursery.cancel_scope.cancel()
    text = metrics.render()
    assert 'aiclient_credential_refreshes_total{provider="kiro",result="success"} 1' in text
    assert 'aiclient_credential_refreshes_total{provider="kiro",result="failure"} 1' in text
