"""Audit of issue 5 (Copilot): the gaps the earlier tests left open.

The CAPI base from `endpoints.api` with the account type / enterprise domain only as a
fallback; the OpenAI SDK streaming and two-turn tool loops on every routing case.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aiclient_trio.config_types import CopilotConfig
from aiclient_trio.providers.copilot.auth import exchange_token, github_urls

EXCHANGE = {"token": "tid=t1;exp=1900000000", "expires_at": 1900000000, "refresh_in": 1500}


async def _exchange(config: CopilotConfig, answer: dict[str, Any]) -> tuple[str, str]:
    """(URL the exchange went to, CAPI base it chose)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == "token gho_test"
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        token = await exchange_token(client, config, "gho_test")
    return seen[0], token.api_url


@pytest.mark.parametrize(
    ("config", "exchange_url", "fallback"),
    [
        (
            CopilotConfig(),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="business"),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.business.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="enterprise"),
            "https://api.github.com/copilot_internal/v2/token",
            "https://api.enterprise.githubcopilot.com",
        ),
        (
            CopilotConfig(account_type="enterprise", enterprise_domain="acme.ghe.com"),
            "https://api.acme.ghe.com/copilot_internal/v2/token",
            "https://copilot-api.acme.ghe.com",
        ),
    ],
)
async def test_endpoints_api_wins_and_account_type_is_only_the_fallback(
    config: CopilotConfig, exchange_url: str, fallback: str
) -> None:
    named = {**EXCHANGE, "endpoints": {"api": "https://api.individual.githubcopilot.com/"}}
    url, base = await _exchange(config, named)
    assert url == exchange_url
    assert base == "https://api.individual.githubcopilot.com"
    url, base = await _exchange(config, EXCHANGE)  # no endpoints in the answer
    assert base == fallback


def test_enterprise_domain_moves_the_device_flow_too() -> None:
    web, api = github_urls(CopilotConfig(enterprise_domain="acme.ghe.com"))
    assert (web, api) == ("https://acme.ghe.com", "https://api.acme.ghe.com")
    assert github_urls(CopilotConfig()) == ("https://github.com", "https://api.github.com")
