"""`/v1/usage` and `/metrics` over real sockets, fed by requests through the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio
from fakes import FakeProvider, Records, make_gateway, serve
from prometheus_client.parser import text_string_to_metric_families

from aiclient_trio.ledger import Ledger
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.providers.quotas import provider_quotas
from aiclient_trio.server.app import create_app


async def test_usage_and_metrics_move_with_requests(tmp_path: Path) -> None:
    provider = FakeProvider("copilot")
    gateway = make_gateway(provider)
    ledger = Ledger(tmp_path / "usage.db")
    metrics = GatewayMetrics(active_streams=lambda: gateway.active_requests.value)
    gateway.ledger, gateway.metrics = ledger, metrics
    gateway.observers += [ledger.record, metrics.observe]
    records = Records(gateway)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
            body = {"model": "copilot/fake-model", "messages": [{"role": "user", "content": "hi"}]}
            for stream in (False, True):
                answer = await client.post("/v1/chat/completions", json={**body, "stream": stream})
                assert answer.status_code == 200
            await records.wait(2)

            usage = await client.get("/v1/usage", params={"since": "1h", "group": "provider"})
            assert usage.status_code == 200
            summary = usage.json()
            assert summary["totals"]["requests"] == 2
            assert summary["totals"]["input_tokens"] == 22  # the fake reports 11 per request
            assert summary["totals"]["output_tokens"] == 14
            assert [g["key"] for g in summary["groups"]] == ["copilot"]
            assert summary["quota"] == {"copilot": None}

            by_day = await client.get("/usage", params={"group": "day"})
            assert len(by_day.json()["groups"]) == 1

            bad = await client.get("/v1/usage", params={"since": "yesterday"})
            assert bad.status_code == 400
            assert bad.json()["error"]["param"] == "since"

            scraped = await client.get("/metrics")
            assert scraped.headers["content-type"].startswith("text/plain")
            families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
            requests = families["aiclient_requests"].samples
            assert sum(s.value for s in requests if s.labels["status"] == "ok") == 2

            cleared = await client.delete("/v1/usage")
            assert cleared.json() == {"deleted": 2}
            again = await client.get("/v1/usage")
            assert again.json()["totals"]["requests"] == 0
        nursery.cancel_scope.cancel()


async def test_usage_without_a_ledger_says_so() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.get("/v1/usage")
        assert answer.status_code == 503
        assert "ledger" in answer.json()["error"]["message"]
        assert (await client.get("/metrics")).status_code == 404


# Usage reports ask only ready providers for their quota; a signed-out one
# reports none instead of making an upstream call that can only fail (and log a warning on
# every `aiclient usage`).


class QuotaProvider(FakeProvider):
    def __init__(self, name: str, *, ready: bool) -> None:
        super().__init__(name, ready=ready)
        self.asked = 0

    async def quota(self) -> dict[str, Any] | None:
        self.asked += 1
        return {"remaining": 7, "limit": 10, "unit": "requests"}


async def test_only_ready_providers_are_asked() -> None:
    ready, signed_out = QuotaProvider("copilot", ready=True), QuotaProvider("kiro", ready=False)
    quotas = await provider_quotas(make_gateway(ready, signed_out).providers)
    assert quotas == {"copilot": {"remaining": 7, "limit": 10, "unit": "requests"}, "kiro": None}
    assert (ready.asked, signed_out.asked) == (1, 0)
