"""AI-credit accounting (Copilot since 2026-06-01), from the simulator's answers to the ledger.

Every endpoint and stream mode carries `copilot_usage` in its own place; the gateway records
the credits and the true token split per row; an answer without it is estimated from
`/models`' `billing.token_prices` (either form) and marked so; quota comes from
`/copilot_internal/user` and the `x-quota-snapshot-*` headers; an account billed per request
keeps premium requests. `/v1/usage`, `/metrics` and `aiclient usage` show credits and dollars.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from copilot_helpers import start_copilot_for_tests, start_provider, start_simulators
from fakes import Records, make_gateway, serve
from prometheus_client.parser import text_string_to_metric_families

from aiclient_trio import ir
from aiclient_trio.cli.usage_report import format_quota, format_usage
from aiclient_trio.gateway import Gateway
from aiclient_trio.ledger import Ledger
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.providers.copilot import CopilotProvider
from aiclient_trio.providers.copilot.billing import PriceTier, TokenPrices, parse_token_prices
from aiclient_trio.record import RequestRecord
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot_billing import copilot_usage, with_token_prices
from aiclient_trio.simulator.copilot_kit import SimState
from aiclient_trio.simulator.copilot_models import SIM_MODELS

ASK = [{"role": "user", "content": "How much does this cost?"}]


def _expected_credits(rec: RequestRecord) -> float:
    """What the simulator billed for the tokens the row records."""
    assert rec.usage is not None and rec.upstream_model is not None
    u = rec.usage
    billed = copilot_usage(
        rec.upstream_model,
        u.prompt_tokens,
        u.output_tokens,
        u.cache_read_input_tokens,
        u.cache_creation_input_tokens,
    )
    assert billed is not None
    return float(billed["total_nano_aiu"]) / 1e9


async def _call(url: str, fmt: str, model: str, stream: bool, **extra: Any) -> None:
    """One request through the official SDK of `fmt`, its answer read to the end."""
    if fmt == "anthropic":
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        async with client:
            kwargs: dict[str, Any] = {
                "model": f"copilot/{model}",
                "max_tokens": 200,
                "messages": ASK,
                **extra,
            }
            if stream:
                async with client.messages.stream(**kwargs) as events:
                    await events.get_final_message()
            else:
                await client.messages.create(**kwargs)
        return
    # The sync SDK in a worker thread: the async one leaves its SSE generators unclosed at
    # [DONE] (a ResourceWarning under trio).
    await trio.to_thread.run_sync(_call_openai, url, fmt, model, stream, extra)


def _call_openai(url: str, fmt: str, model: str, stream: bool, extra: dict[str, Any]) -> None:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as oai:
        if fmt == "openai_chat":
            chat = oai.chat.completions.create(
                model=f"copilot/{model}",
                messages=ASK,  # type: ignore[arg-type]
                stream=stream,
                **extra,
            )
            if stream:
                with chat:  # type: ignore[union-attr]
                    for _ in chat:  # type: ignore[union-attr]
                        pass
        else:
            answer = oai.responses.create(
                model=f"copilot/{model}", input="How much?", stream=stream, **extra
            )
            if stream:
                with answer:  # type: ignore[union-attr]
                    for _ in answer:  # type: ignore[union-attr]
                        pass


CASES = [
    # inbound format, model, upstream endpoint it reaches
    ("openai_chat", "gpt-4.1", "/chat/completions"),  # passthrough
    ("anthropic", "claude-sonnet-4.5", "/v1/messages"),  # passthrough
    ("responses", "gpt-5-codex", "/responses"),  # passthrough
    ("anthropic", "gpt-4o", "/chat/completions"),  # translated
    ("openai_chat", "gpt-5-codex", "/responses"),  # translated
    ("responses", "claude-sonnet-4.5", "/chat/completions"),  # translated
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("fmt", "model", "path"), CASES)
async def test_every_endpoint_and_stream_mode_records_reported_credits(
    tmp_path: Path, fmt: str, model: str, path: str, stream: bool
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            await _call(url, fmt, model, stream)
            (rec,) = await records.wait(1)
        nursery.cancel_scope.cancel()
    assert [r.path for r in sim.state.recorded("copilot") if r.method == "POST"] == [path]
    assert rec.outcome == "ok"
    assert rec.credits is not None and rec.credits > 0
    assert rec.credits_estimated is False
    assert math.isclose(rec.credits, _expected_credits(rec), rel_tol=1e-6)
    assert rec.premium == 0.0  # billed in credits: no premium requests


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_copilot_usage_inside_usage_is_read_too(tmp_path: Path, stream: bool) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.copilot_usage_at = "inside"  # where the official type puts it
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            await _call(url, "openai_chat", "claude-sonnet-4.5", stream)
            (rec,) = await records.wait(1)
        nursery.cancel_scope.cancel()
    assert rec.credits is not None and not rec.credits_estimated
    assert math.isclose(rec.credits, _expected_credits(rec), rel_tol=1e-6)


@pytest.mark.parametrize("api_version", ["2026-06-01", "2026-01-01"])  # tiered, flat prices
async def test_answers_without_copilot_usage_are_estimated_from_token_prices(
    tmp_path: Path, api_version: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path, api_version=api_version)
        sim.state.copilot_usage_at = "none"
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            await _call(url, "anthropic", "claude-sonnet-4.5", True)
            await _call(url, "openai_chat", "gpt-4.1", False)
            recs = await records.wait(2)
        nursery.cancel_scope.cancel()
    for rec in recs:
        assert rec.credits_estimated is True
        assert rec.credits is not None
        assert math.isclose(rec.credits, _expected_credits(rec), rel_tol=1e-6)


def test_token_prices_in_both_forms_and_the_long_context_tier() -> None:
    sonnet = next(m for m in SIM_MODELS if m["id"] == "claude-sonnet-4.5")
    tiered = parse_token_prices(with_token_prices(sonnet, "2026-06-01"))
    flat = parse_token_prices(with_token_prices(sonnet, "2025-10-01"))
    assert tiered is not None and flat is not None
    assert tiered.default.context_max == 200_000 and tiered.long_context is not None
    short = ir.Usage(input_tokens=1000, output_tokens=100, cache_read_input_tokens=50)
    # 1000 x 300 + 100 x 1500 + 50 x 30 credits per million tokens.
    assert math.isclose(tiered.estimate(short), 0.4515)
    assert math.isclose(flat.estimate(short), 0.4515)
    long = ir.Usage(input_tokens=250_000, output_tokens=1000)
    assert math.isclose(tiered.estimate(long), 250_000 * 600e-6 + 1000 * 2250e-6)
    assert math.isclose(flat.estimate(long), 250_000 * 300e-6 + 1000 * 1500e-6)  # no tiers
    assert math.isclose(TokenPrices(PriceTier(1e-6, 2e-6, 0, 0)).estimate(ir.Usage(5, 5)), 15e-6)


async def test_cache_writes_and_reads_come_from_token_details(tmp_path: Path) -> None:
    """Chat's prompt_tokens hides cache writes; `token_details` has the true split."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            for _ in range(2):
                await _call(
                    url, "openai_chat", "gpt-4.1", False, extra_body={"prompt_cache_key": "c1:4.1"}
                )
            first, second = await records.wait(2)
        nursery.cancel_scope.cancel()
    bodies = [r.body for r in sim.state.recorded("copilot", "/chat/completions")]
    assert [b["prompt_cache_key"] for b in bodies] == ["c1:4.1", "c1:4.1"]  # passed through
    assert first.usage is not None and second.usage is not None
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.credits is not None and first.credits is not None
    assert second.credits < first.credits  # cache reads are cheaper than writes


def _observed(gateway: Gateway, ledger: Ledger) -> GatewayMetrics:
    metrics = GatewayMetrics()
    gateway.ledger, gateway.metrics = ledger, metrics
    gateway.observers += [ledger.record, metrics.observe]
    return metrics


async def test_usage_metrics_and_quota_show_credits_and_dollars(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        ledger = Ledger(tmp_path / "usage.db")
        _observed(gateway, ledger)
        records = Records(gateway)
        await nursery.start(ledger.run)
        sim.state.copilot_usage_at = "beside"
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            await _call(url, "anthropic", "claude-sonnet-4.5", False)
            sim.state.copilot_usage_at = "none"  # this one is estimated
            await _call(url, "openai_chat", "gpt-4.1", True)
            recs = await records.wait(2)
            summary = (await http.get("/v1/usage", params={"group": "model"})).json()
            scraped = (await http.get("/metrics")).text
        nursery.cancel_scope.cancel()
    total = sum(r.credits or 0 for r in recs)
    estimated = next(r.credits for r in recs if r.credits_estimated)
    assert math.isclose(summary["totals"]["credits"], total)
    assert math.isclose(summary["totals"]["usd"], total * 0.01)
    assert math.isclose(summary["totals"]["estimated_credits"], estimated or 0)
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    samples = families["aiclient_credits"].samples
    by_source = {s.labels["source"]: s.value for s in samples}
    assert math.isclose(by_source["estimated"], estimated or 0)
    assert math.isclose(by_source["reported"], total - (estimated or 0))
    text = format_usage(summary)
    assert "credits" in text and "usd" in text
    assert f"(${total * 0.01:,.2f} at $0.01 a credit)" in text
    assert "estimated from token prices" in text
    # The quota: AI credits spent from the entitlement, and the headers' snapshot.
    quota = summary["quota"]["copilot"]
    assert quota["billing"] == "AI credits" and quota["unit"] == "AI credits"
    assert quota["remaining"] < 120  # the simulator spent the credits
    assert quota["snapshot"]["snapshot"] == "premium_models"
    assert quota["snapshot"]["percent_remaining"] < 40
    assert "billed in AI credits" in format_quota(quota)


async def test_accounts_billed_per_request_keep_premium_requests(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        sim = await start_simulators(nursery, SimState(token_billing=False))
        provider = await start_provider(nursery, tmp_path, sim)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            await _call(url, "anthropic", "claude-sonnet-4.5", True)
            (rec,) = await records.wait(1)
        quota = await provider.quota()
        nursery.cancel_scope.cancel()
    assert rec.premium == 1.0 and rec.credits is None
    assert quota is not None and quota["billing"] == "premium requests"
    assert quota["unit"] == "premium requests"
    assert "billed in premium requests" in format_quota(quota)


async def test_the_billing_setting_overrides_what_github_says(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(
            nursery, tmp_path, billing="premium_requests"
        )
        assert isinstance(provider, CopilotProvider)
        assert provider.billing == "premium_requests"
        nursery.cancel_scope.cancel()
