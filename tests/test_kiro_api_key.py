"""Kiro API keys end to end: `aiclient auth kiro --api-key` (key from KIRO_API_KEY or stdin,
region found by probing the management hosts, stored 0600, masked in `auth list`), then the
SDK through the gateway to the simulator with `TokenType: API_KEY` and no refresh."""

from __future__ import annotations

import json
import stat
from typing import Any

import anthropic
import tomli_w
import trio
from click.testing import CliRunner, Result
from conftest import XdgHome
from fakes import make_gateway, serve

from aiclient_trio.cli.main import main
from aiclient_trio.config.types import Config, KiroConfig, UpstreamConfig
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.credentials import TokenStore, default_token_path
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator, urls_for


async def _cli(
    args: list[str], env: dict[str, str] | None = None, stdin: str | None = None
) -> Result:
    def invoke() -> Result:
        return CliRunner().invoke(main, args, env=env, input=stdin)

    return await trio.to_thread.run_sync(invoke)


def _write_config(home: XdgHome, sim: KiroSimulator) -> None:
    path = home.config_file
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(tomli_w.dumps({"providers": {"kiro": urls_for(sim)}}))


async def test_api_key_sign_in_and_use(xdg_home: XdgHome, nursery: trio.Nursery) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    _write_config(xdg_home, sim)
    key = sim.accounts.issue_api_key("eu-central-1")

    # Not a key: refused before any call, saying what a key looks like.
    wrong = await _cli(["auth", "kiro", "--api-key"], env={"KIRO_API_KEY": "sk-nope"})
    assert wrong.exit_code == 1 and "ksk_" in wrong.output and sim.requests == []
    # A key no region accepts (revoked): the probe answers name every region tried.
    gone = await _cli(["auth", "kiro", "--api-key"], env={"KIRO_API_KEY": "ksk_" + "0" * 32})
    assert gone.exit_code == 1 and "us-east-1: HTTP 403" in gone.output

    signed = await _cli(["auth", "kiro", "--api-key"], env={"KIRO_API_KEY": key})
    assert signed.exit_code == 0, signed.output
    assert key not in signed.output and key[-4:] in signed.output
    assert "eu-central-1" in signed.output
    probes = [(r.method, r.path, r.headers["tokentype"]) for r in sim.management_requests()]
    assert ("GET", "/management/eu-central-1/getUsageLimits", "API_KEY") in probes
    path = default_token_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = TokenStore(path).load()
    assert record == {
        **record,
        "authMethod": "api_key",
        "accessToken": key,
        "region": "eu-central-1",
    }
    assert "refreshToken" not in record

    # The same key piped on stdin (KIRO_API_KEY unset) works too.
    piped = await _cli(["auth", "kiro", "--api-key"], env={"KIRO_API_KEY": ""}, stdin=key + "\n")
    assert piped.exit_code == 0, piped.output

    listed = await _cli(["auth", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert key not in listed.output
    kiro = json.loads(listed.output)["kiro"]
    assert kiro["signed_in"] and kiro["account"] == f"API key ksk_...{key[-4:]} (eu-central-1)"

    # Chat with the key: the region's runtime host, TokenType API_KEY, no profile, no refresh.
    config = Config(
        default_provider="kiro",
        upstream=UpstreamConfig(connect_timeout=5.0, retries=0),
        kiro=KiroConfig(**urls_for(sim)),  # type: ignore[arg-type]
    )
    provider = KiroProvider(config, token_path=path)
    try:
        await nursery.start(provider.run)
        async with serve(create_app(make_gateway(provider, config=config))) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                answer: Any = await client.messages.create(
                    model="kiro/claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hello"}],
                )
    finally:
        await provider.aclose()
    assert "You said: hello" in answer.content[0].text
    [call] = sim.generate_requests()
    assert call.path == "/runtime/eu-central-1/"
    assert call.headers["tokentype"] == "API_KEY"
    assert call.headers["authorization"] == f"Bearer {key}"
    assert "profileArn" not in call.json()
    assert sim.accounts.refresh_calls == 0 and not provider.auth.needs_refresh()
    assert (
        provider.describe()["auth"] == "api_key" and "token_expires_at" not in provider.describe()
    )
