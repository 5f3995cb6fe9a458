"""Headers like the official client's (2026), as the simulator records them.

Session, machine and device ids; an interaction id per user turn; the interaction type told
from the request (subagent, compaction, background) with `X-Initiator: agent` for those and
for retries; the /v1/messages proxy specifics (intent, user agent, no integration id,
anthropic-beta by family, temperature over top_p); the vision header on chat only.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import trio
from copilot_helpers import start_copilot_for_tests, start_provider, start_simulators
from fakes import make_gateway, serve

from aiclient_trio.server.app import create_app

CLAUDE_UA = "claude-cli/2.1.112 (external, sdk-ts, agent-sdk/0.2.112)"
READ = {"name": "Read", "input_schema": {"type": "object", "properties": {}}}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


def _posts(sim: Any) -> list[Any]:
    return [r for r in sim.state.recorded("copilot") if r.method == "POST"]


async def test_messages_proxy_headers_and_body_rules(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = anthropic.AsyncAnthropic(
                base_url=url,
                api_key="x",
                max_retries=0,
                default_headers={
                    "user-agent": CLAUDE_UA,
                    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
                    "per-turn-control-2026-05-01,prompt-caching-scope-2026-01-05",
                },
            )
            async with client:
                await client.messages.create(
                    model="copilot/claude-sonnet-4.5",
                    max_tokens=64,
                    # newer Claude refuses both: temperature wins (this SDK no longer has them)
                    extra_body={"temperature": 0.2, "top_p": 0.9},
                    messages=[{"role": "user", "content": "hi"}],
                )
                await client.messages.create(
                    model="copilot/gpt-4o",  # translated to chat/completions
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hi"}],
                )
        nursery.cancel_scope.cancel()
    proxy, chat = _posts(sim)
    assert proxy.path == "/v1/messages"
    h = proxy.headers
    assert h["openai-intent"] == "messages-proxy" == h["x-interaction-type"]
    assert h["user-agent"] == "vscode_claude_code/2.1.112 (external, sdk-ts, agent-sdk/0.2.112)"
    assert "copilot-integration-id" not in h
    assert h["anthropic-beta"] == "interleaved-thinking-2025-05-14,per-turn-control-2026-05-01"
    assert proxy.body["temperature"] == 0.2 and "top_p" not in proxy.body
    assert chat.path == "/chat/completions"
    assert chat.headers["openai-intent"] == "conversation-agent"
    assert chat.headers["copilot-integration-id"] == "vscode-chat"
    assert chat.headers["user-agent"] == "GitHubCopilotChat/0.50.1"
    for post in (proxy, chat):
        assert post.headers["vscode-sessionid"] and post.headers["vscode-machineid"]
        assert post.headers["editor-device-id"] and post.headers["x-interaction-id"]
    assert proxy.headers["vscode-sessionid"] == chat.headers["vscode-sessionid"]


async def test_device_ids_are_random_stable_per_install_and_private(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []
    async with trio.open_nursery() as nursery:
        sim = await start_simulators(nursery)
        for _ in range(2):  # a restart of the daemon's provider: the same install
            await start_provider(nursery, tmp_path, sim)
            seen.append(sim.state.recorded("copilot", "/models")[-1].headers)
        other = await start_provider(nursery, tmp_path / "elsewhere", sim)  # another install
        assert other is not None
        seen.append(sim.state.recorded("copilot", "/models")[-1].headers)
        nursery.cancel_scope.cancel()
    stored = tmp_path / "copilot" / "device.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    first, again, elsewhere = seen
    for key in ("vscode-machineid", "editor-device-id"):
        assert first[key] == again[key] != elsewhere[key]
    assert len(first["vscode-machineid"]) == 64
    assert first["vscode-sessionid"] == elsewhere["vscode-sessionid"]  # one daemon run


async def _claude(url: str, **kwargs: Any) -> anthropic.types.Message:
    client = anthropic.AsyncAnthropic(
        base_url=url, api_key="x", max_retries=0, default_headers={"user-agent": CLAUDE_UA}
    )
    async with client:
        return await client.messages.create(max_tokens=64, **kwargs)


async def test_interaction_id_per_user_turn_and_type_from_the_request(tmp_path: Path) -> None:
    ask = {"role": "user", "content": '[[call Read {"path": "a"}]]'}
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            model = "copilot/claude-sonnet-4.5"
            first = await _claude(url, model=model, tools=[READ], messages=[ask])
            call = next(b for b in first.content if b.type == "tool_use")
            result = {"type": "tool_result", "tool_use_id": call.id, "content": "x"}  # type: ignore[union-attr]
            history = [ask, {"role": "assistant", "content": first.content}]
            await _claude(
                url,
                model=model,
                tools=[READ],
                messages=[*history, {"role": "user", "content": [result]}],
            )
            await _claude(url, model=model, messages=[{"role": "user", "content": "next question"}])
            await _claude(
                url,
                model=model,
                system="You are an agent for Claude Code, Anthropic's official CLI for Claude.",
                messages=[{"role": "user", "content": "find the tests"}],
            )
            await _claude(
                url,
                model=model,
                messages=[
                    {
                        "role": "user",
                        "content": "Your task is to create a detailed summary of the "
                        "conversation so far, paying close attention to the user's requests.",
                    }
                ],
            )
            await _claude(
                url,
                model="claude-haiku-4-5-20251001",
                messages=[{"role": "user", "content": "a title for this"}],
            )
        nursery.cancel_scope.cancel()
    posts = _posts(sim)
    turn, loop, user2, subagent, compaction, background = (p.headers for p in posts)
    assert [p.headers["x-initiator"] for p in posts] == [
        "user",
        "agent",
        "user",
        "agent",
        "agent",
        "agent",
    ]
    assert turn["x-interaction-id"] == loop["x-interaction-id"] != user2["x-interaction-id"]
    assert subagent["x-interaction-type"] == "conversation-subagent"
    assert compaction["x-interaction-type"] == "conversation-compaction"
    assert background["x-interaction-type"] == "conversation-background"
    assert turn["x-interaction-type"] == "messages-proxy"  # no override: the intent


async def test_a_gateway_retry_is_sent_as_agent(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.faults.queue_upstream_rate_limit(retry_after=0)
        async with (
            serve(create_app(make_gateway(provider))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            reply = await http.post(
                "/v1/chat/completions",
                json={"model": "copilot/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]},
            )
        nursery.cancel_scope.cancel()
    assert reply.status_code == 200
    first, retry = _posts(sim)
    assert (first.headers["x-initiator"], retry.headers["x-initiator"]) == ("user", "agent")
    assert first.headers["x-request-id"] == retry.headers["x-request-id"]


@pytest.mark.parametrize("setting", ["chat", "all"])
async def test_the_vision_header_goes_on_chat_completions_only_by_default(
    tmp_path: Path, setting: str
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content = [image, {"type": "text", "text": "what is it?"}]
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path, vision_header=setting)
        async with serve(create_app(make_gateway(provider))) as url:
            for model in ("copilot/claude-sonnet-4.5", "copilot/gpt-4o"):
                await _claude(url, model=model, messages=[{"role": "user", "content": content}])
        nursery.cancel_scope.cancel()
    messages, chat = _posts(sim)
    assert (messages.path, chat.path) == ("/v1/messages", "/chat/completions")
    assert chat.headers["copilot-vision-request"] == "true"
    expected = "true" if setting == "all" else None
    assert messages.headers.get("copilot-vision-request") == expected
