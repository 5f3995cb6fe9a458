"""Audit gaps of the reliability issue: a 429 (rate limit with a long wait) and a 5xx
fall back along an alias chain, and every fallback is logged and recorded in the ledger."""

from __future__ import annotations

import logging

import httpx
import pytest
from fakes import FakeProvider, Records, Script, load_json, make_gateway, serve

from aiclient_trio.config_types import Config, UpstreamConfig
from aiclient_trio.errors import RateLimited, UpstreamError
from aiclient_trio.server.app import create_app

CHAIN = ("copilot/fake-model", "kiro/fake-model")


@pytest.mark.parametrize(
    "error",
    [RateLimited("slow down", retry_after=600.0), UpstreamError("bad gateway", status=503)],
)
async def test_rate_limit_and_5xx_fall_back_logged_and_recorded(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    copilot, kiro = FakeProvider("copilot"), FakeProvider("kiro")
    config = Config(upstream=UpstreamConfig(retries=0), aliases={"smart": CHAIN})
    gateway = make_gateway(copilot, kiro, config=config)
    records = Records(gateway)
    copilot.scripts["fake-model"] = Script(error=error)
    caplog.set_level(logging.INFO, logger="aiclient_trio.server")
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/chat/completions", json=load_json("chat_request.json", model="smart")
        )
        assert response.status_code == 200 and b'"error"' not in response.content
        (record,) = await records.wait(1)
    assert len(copilot.calls) == 1 and len(kiro.calls) == 1
    assert record.provider == "kiro" and record.fallback_from == ("copilot/fake-model",)
    assert "copilot/fake-model failed" in caplog.text and "trying the next target" in caplog.text
