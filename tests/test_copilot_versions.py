"""Copilot's client versions (2026): today's values on the wire, and HTTP 466 for outdated ones.

The simulator refuses an X-GitHub-Api-Version older than `SimState.min_api_version` with the
real 466 body; the client then sees, in its own format, which setting to change and that
`aiclient version --check` helps, with `x-should-retry: false`, and `/readyz` shows it.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import trio
from copilot_helpers import start_copilot_for_tests, start_provider, start_simulators
from fakes import make_gateway, serve

from aiclient_trio.config.types import Config, CopilotConfig
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot_kit import SimState

HI = [{"role": "user", "content": "hi"}]


async def test_capi_and_github_calls_carry_todays_versions(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            async with client:
                await client.chat.completions.create(model="copilot/gpt-4.1", messages=HI)  # type: ignore[arg-type]
        await provider.quota()
        nursery.cancel_scope.cancel()
    defaults = CopilotConfig()
    assert defaults.api_version == "2026-06-01"
    assert defaults.github_api_version == "2025-04-01"
    capi = sim.state.recorded("copilot")
    assert {r.path for r in capi} >= {"/models", "/chat/completions"}
    for r in capi:
        assert r.headers["x-github-api-version"] == "2026-06-01"
        assert r.headers["editor-version"] == "vscode/1.122.1"
        assert r.headers["editor-plugin-version"] == "copilot-chat/0.50.1"
        assert r.headers["user-agent"] == "GitHubCopilotChat/0.50.1"
    github = sim.state.recorded("github")
    assert {r.path for r in github} >= {"/copilot_internal/v2/token", "/copilot_internal/user"}
    assert {r.headers["x-github-api-version"] for r in github} == {"2025-04-01"}


async def test_an_outdated_version_at_start_marks_the_provider_outdated(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path, api_version="2025-05-01")
        status = provider.status.value
        assert status.state == ProviderState.OUTDATED
        assert "2025-05-01" in (status.reason or "")
        assert "aiclient version --check" in (status.fix or "")
        assert [r.path for r in sim.state.recorded("copilot")] == ["/models"]  # refused
        async with (
            serve(create_app(make_gateway(provider))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["providers"]["copilot"]["state"] == "outdated"
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=3)
            async with client:
                with pytest.raises(openai.APIStatusError) as caught:
                    await client.chat.completions.create(model="copilot/gpt-4.1", messages=HI)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "aiclient version --check" in caught.value.message
    # No chat call reached Copilot, and the SDK did not retry.
    assert [r.path for r in sim.state.recorded("copilot")] == ["/models"]


@pytest.mark.parametrize("stream", [False, True])
async def test_copilot_moving_on_gives_the_client_a_466_it_can_act_on(
    tmp_path: Path, stream: bool
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        assert provider.status.value.state == ProviderState.READY
        sim.state.min_api_version = "2026-08-01"  # Copilot retires our version mid-run
        async with (
            serve(create_app(make_gateway(provider, config=Config()))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=3)
            async with client:
                with pytest.raises(anthropic.APIStatusError) as caught:
                    if stream:
                        async with client.messages.stream(
                            model="copilot/claude-sonnet-4.5", max_tokens=64, messages=HI
                        ) as events:
                            await events.get_final_message()
                    else:
                        await client.messages.create(
                            model="copilot/claude-sonnet-4.5", max_tokens=64, messages=HI
                        )
            ready = (await http.get("/readyz")).json()
        nursery.cancel_scope.cancel()
    error = caught.value
    assert error.response.headers["x-should-retry"] == "false"
    message = error.message
    assert "no longer accepts this client version" in message
    assert "providers.copilot.api_version" in message
    assert "aiclient version --check" in message
    assert "2026-06-01" in message  # the version it refused
    assert ready["providers"]["copilot"]["state"] == "outdated"
    # One attempt only: the SDK honoured x-should-retry.
    assert len(sim.state.recorded("copilot", "/v1/messages")) == 1


async def test_a_newer_api_version_setting_is_what_is_sent(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        sim = await start_simulators(nursery, SimState(min_api_version="2026-08-01"))
        provider = await start_provider(
            nursery,
            tmp_path,
            sim,
            api_version="2026-08-01",
            editor_plugin_version="copilot-chat/0.52.0",
        )
        assert provider.status.value.state == ProviderState.READY
        nursery.cancel_scope.cancel()
    models = sim.state.recorded("copilot", "/models")
    assert models[0].headers["x-github-api-version"] == "2026-08-01"
    assert models[0].headers["editor-plugin-version"] == "copilot-chat/0.52.0"
