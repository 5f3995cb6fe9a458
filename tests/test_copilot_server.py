"""The gateway server with the real Copilot provider against the GitHub + Copilot simulators,
through the official SDKs over real sockets: every inbound endpoint against a chat-only model,
a Claude model with native /v1/messages and a responses-only codex model."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import trio
from copilot_helpers import copilot_gateway, start_copilot_for_tests, stream_messages
from fakes import Records, open_raw_post, receive_until, serve, sse_events
from sdk_rounds import anthropic_thinking, anthropic_tool_round

from aiclient_trio.server.app import create_app

READ = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


def _posts(sim: Any, path: str) -> list[Any]:
    return [r for r in sim.state.requests if r.service == "copilot" and r.path == path]


@pytest.mark.parametrize("model", ["claude-sonnet-4-5-20250929", "gpt-4o", "gpt-5-codex"])
async def test_anthropic_sdk_tool_loop_and_thinking(tmp_path: Path, model: str) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider))) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                first, call, second = await anthropic_tool_round(
                    client,
                    READ,
                    'Look [[call Read {"path": "a.txt"}]]',
                    "hello",
                    model=f"copilot/{model}",
                    also_send=[{"type": "text", "text": "<system-reminder>x</system-reminder>"}],
                )
                assert first.stop_reason == "tool_use"
                assert call.input == {"path": "a.txt"}
                assert first.usage.input_tokens > 0
                text = "".join(b.text for b in second.content if b.type == "text")
                assert text.endswith("got the tool result: hello")
                thought = await anthropic_thinking(
                    client, f"copilot/{model}", "[[think Plan it.]] 2+2?"
                )
                kinds = [b.type for b in thought.content]
                assert kinds[-1] == "text"
                if model != "gpt-5-codex":  # Responses reasoning summaries are thinking too
                    assert kinds == ["thinking", "text"]
                    assert thought.content[0].thinking == "Plan it."  # type: ignore[union-attr]
        nursery.cancel_scope.cancel()
    upstream = [r for r in sim.state.requests if r.service == "copilot" and r.method == "POST"]
    assert [r.headers["x-initiator"] for r in upstream] == ["user", "agent", "user"]
    expected = {
        "claude-sonnet-4-5-20250929": "/v1/messages",
        "gpt-4o": "/chat/completions",
        "gpt-5-codex": "/responses",
    }[model]
    assert {r.path for r in upstream} == {expected}


async def test_openai_sdk_chat_responses_embeddings_and_errors(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = copilot_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            async with client:
                image = [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ]
                for model in ("gpt-4o", "claude-sonnet-4.5", "gpt-5-codex"):
                    chat = await client.chat.completions.create(
                        model=f"copilot/{model}",
                        messages=[{"role": "user", "content": image}],  # type: ignore[misc]
                    )
                    assert "What is this?" in (chat.choices[0].message.content or "")
                    # The vision header goes on chat/completions only (codex is on /responses).
                    sent = sim.state.requests[-1].headers.get("copilot-vision-request")
                    assert sent == (None if model == "gpt-5-codex" else "true")
                for model in ("gpt-5-codex", "gpt-4o", "claude-sonnet-4.5"):
                    response = await client.responses.create(model=f"copilot/{model}", input="hi")
                    assert "You said: hi" in response.output_text
                tool = {
                    "type": "function",
                    "function": {"name": "Read", "parameters": READ["input_schema"]},
                }
                split = await client.chat.completions.create(
                    model="copilot/claude-sonnet-4.5",
                    tools=[tool],  # type: ignore[list-item]
                    messages=[{"role": "user", "content": '[[call Read {"path": "b"}]]'}],
                )
                # Copilot splits Claude's text and tool calls across two choices; merged.
                assert len(split.choices) == 1
                assert split.choices[0].finish_reason == "tool_calls"
                assert split.choices[0].message.tool_calls[0].function.name == "Read"  # type: ignore[index, union-attr]
                assert "calling Read" in (split.choices[0].message.content or "")
                small = await client.chat.completions.create(
                    model="copilot/gpt-5-mini",
                    max_tokens=50,
                    messages=[{"role": "user", "content": "short"}],
                )
                assert "You said: short" in (small.choices[0].message.content or "")
                assert sim.state.requests[-1].body["max_completion_tokens"] == 50
                embedded = await client.embeddings.create(
                    model="copilot/text-embedding-3-small", input=["a", "b"]
                )
                assert [len(d.embedding) for d in embedded.data] == [8, 8]
                plain = await client.embeddings.create(
                    model="copilot/text-embedding-3-small", input="a", encoding_format="float"
                )
                assert plain.data[0].embedding == pytest.approx(embedded.data[0].embedding)
                sim.state.faults.queue_error(
                    402, {"error": {"message": "You have no quota", "code": "quota_exceeded"}}
                )
                with pytest.raises(openai.RateLimitError) as caught:
                    await client.chat.completions.create(
                        model="copilot/gpt-4o", messages=[{"role": "user", "content": "hi"}]
                    )
                assert caught.value.response.headers.get("x-should-retry") == "false"
                with pytest.raises(openai.NotFoundError, match="copilot/gpt-4o"):
                    await client.chat.completions.create(
                        model="copilot/gpt-4-o", messages=[{"role": "user", "content": "hi"}]
                    )
        recs = await records.wait(9)
        nursery.cancel_scope.cancel()
    assert [r.upstream_model for r in recs[:3]] == ["gpt-4o", "claude-sonnet-4.5", "gpt-5-codex"]
    assert all(r.initiator == "user" for r in recs[:6])
    assert not _posts(sim, "/chat/completions") or all(
        r.body["model"] != "gpt-5-codex" for r in _posts(sim, "/chat/completions")
    ), "a responses-only model never reaches /chat/completions"


async def test_anthropic_context_overflow_reads_prompt_is_too_long(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _ = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider))) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                with pytest.raises(anthropic.BadRequestError, match=r"prompt is too long: \d+"):
                    await client.messages.create(
                        model="copilot/tiny-context",
                        max_tokens=64,
                        messages=[{"role": "user", "content": "x" * 500}],
                    )
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("model", ["claude-sonnet-4.5", "gpt-4o"])
async def test_upstream_reset_mid_stream_reaches_the_client_as_an_error_event(
    tmp_path: Path, model: str
) -> None:
    response = await stream_messages(tmp_path, model, "cut [[reset-after 3]]")
    events = sse_events(response.content)
    assert events[0].event == "message_start"
    assert events[-1].event == "error"
    assert json.loads(events[-1].data)["type"] == "error"
    assert all(json.loads(e.data) for e in events)  # every event is whole JSON


@pytest.mark.parametrize("model", ["claude-sonnet-4.5", "gpt-4o"])
async def test_client_disconnect_cancels_the_upstream_call(tmp_path: Path, model: str) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        sim.state.faults.hold_after_events = 4
        async with serve(create_app(copilot_gateway(provider))) as url:
            body = {
                "model": f"copilot/{model}",
                "max_tokens": 64,
                "stream": True,
                "messages": [{"role": "user", "content": "a long answer"}],
            }
            stream = await open_raw_post(url, "/v1/messages", body)
            await receive_until(stream, b"content_block_delta")
            await stream.aclose()  # the client goes away while the upstream still runs
            with trio.fail_after(5):
                await sim.state.wait_for_disconnects(1)
        nursery.cancel_scope.cancel()


def test_base64_helper_matches_the_sdk_decoding() -> None:
    from aiclient_trio.providers.copilot.provider import encode_base64_floats

    packed = encode_base64_floats([0.25, -1.5])
    assert struct.unpack("<2f", base64.b64decode(packed)) == (0.25, -1.5)
    assert json.dumps(packed).startswith('"')
