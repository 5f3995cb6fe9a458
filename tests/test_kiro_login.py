"""Kiro sign-in against the simulator: Builder ID device flow (virtual time) and social PKCE."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from kiro_helpers import collect, kiro_config, summarize, user_request

from aiclient_trio.config.types import KiroConfig
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.credentials import TokenStore
from aiclient_trio.providers.kiro.login import DeviceCode, LoginError, device_login, social_login
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator


def _config(sim: KiroSimulator) -> KiroConfig:
    return KiroConfig(api_url=sim.base_url, auth_url=sim.base_url, oidc_url=sim.base_url)


async def test_device_flow_honours_slow_down(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    sim.accounts.device_slow_downs = 2
    sim.accounts.device_auto_approve_after = 4
    codes: list[DeviceCode] = []
    progress: list[str] = []
    start = trio.current_time()
    async with httpx.AsyncClient() as http:
        record = await device_login(
            http, _config(sim), on_code=codes.append, on_progress=progress.append
        )
    # Polls at 5 (slow_down -> 10 s), 15 (slow_down -> 15 s), 30, 45 (pending), 60 (approved).
    assert trio.current_time() - start == pytest.approx(60.0)
    assert sum("slow down" in p for p in progress) == 2
    assert codes[0].user_code and codes[0].verification_uri_complete.endswith(codes[0].user_code)
    assert record["authMethod"] == "IdC" and record["provider"] == "BuilderId"
    assert sim.accounts.token_kind(record["accessToken"]) == "builder_id"
    # The minted credential works for inference and for the OIDC refresh (which writes the
    # token file from a worker thread: the clock must not jump while it runs).
    autojump_clock.autojump_threshold = 0.05
    path = tmp_path / "token.json"
    TokenStore(path).save(record)
    provider = KiroProvider(kiro_config(sim), token_path=path)
    try:
        assert summarize(await collect(provider, user_request("hi")))["error"] is None
        # Builder ID on runtime: Kiro's fixed profile ARN (the service demands one there).
        [call] = sim.generate_requests("runtime")
        assert call.json()["profileArn"].endswith(":638616132270:profile/AAAACCCCXXXX")
        assert call.headers["tokentype"] == "SSO_OIDC"
        await provider.auth.refresh()
    finally:
        await provider.aclose()
    assert sim.accounts.refresh_calls == 1


async def test_device_flow_approved_by_the_user(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)

    def approve(code: DeviceCode) -> None:
        sim.accounts.approve_device(code.user_code)

    async with httpx.AsyncClient() as http:
        record = await device_login(
            http,
            _config(sim),
            on_code=approve,
            start_url="https://example.awsapps.com/start",
            region="eu-west-1",
        )
    assert record["provider"] == "Enterprise" and record["region"] == "eu-west-1"
    assert record["startUrl"] == "https://example.awsapps.com/start"


async def test_device_flow_expires(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    sim.accounts.device_expires_in = 30
    start = trio.current_time()
    async with httpx.AsyncClient() as http:
        with pytest.raises(LoginError, match="expired"):
            await device_login(http, _config(sim), on_code=lambda code: None)
    assert trio.current_time() - start == pytest.approx(30.0)


async def test_device_flow_denied(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)

    def deny(code: DeviceCode) -> None:
        sim.accounts.approve_device(code.user_code, deny=True)

    async with httpx.AsyncClient() as http:
        with pytest.raises(LoginError, match="denied"):
            await device_login(http, _config(sim), on_code=deny)


async def test_social_sign_in_with_pkce(nursery: trio.Nursery) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    pages: list[str] = []

    async def browser(url: str) -> None:
        assert "code_challenge_method=S256" in url and "idp=Github" in url
        async with httpx.AsyncClient(follow_redirects=True) as client:
            page = await client.get(url)
        pages.append(page.text)

    async with httpx.AsyncClient() as http:
        record = await social_login(http, _config(sim), idp="github", open_browser=browser)
    assert "Signed in" in pages[0]
    assert record["authMethod"] == "social" and record["provider"] == "Github"
    assert record["profileArn"].startswith("arn:aws:codewhisperer:")
    assert sim.accounts.token_kind(record["accessToken"]) == "social"


async def test_social_sign_in_without_callback(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)

    async def closed_browser(url: str) -> None:
        pass

    async with httpx.AsyncClient() as http:
        with pytest.raises(LoginError, match="no sign-in callback"):
            await social_login(http, _config(sim), idp="google", open_browser=closed_browser)
