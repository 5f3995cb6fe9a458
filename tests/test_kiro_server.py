"""The gateway server with the real Kiro provider against the Kiro simulator, through the
official SDKs over real sockets: text, tool loop, image, thinking, faults, disconnect."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import trio
from fakes import Records, open_raw_post, receive_until, serve, sse_events
from kiro_helpers import kiro_gateway, start_kiro_for_tests
from sdk_rounds import anthropic_thinking, anthropic_tool_round

from aiclient_trio.server.app import create_app

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


async def test_anthropic_sdk_tool_loop_thinking_and_errors(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = kiro_gateway(provider)
        async with serve(create_app(gateway)) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                first, call, second = await anthropic_tool_round(
                    client,
                    WEATHER,
                    'Weather? [[call get_weather {"city": "Paris"}]]',
                    "18 C and cloudy",
                    model="kiro/claude-sonnet-4-5-20250929",
                    second_model="kiro/claude-sonnet-4.5",
                )
                assert first.stop_reason == "tool_use"
                assert call.input == {"city": "Paris"}
                assert second.content[0].text.endswith("got the tool result: 18 C and cloudy")  # type: ignore[union-attr]
                thought = await anthropic_thinking(
                    client, "kiro/claude-sonnet-4.5", "[[think Plan: add.]] 2+2?"
                )
                assert [b.type for b in thought.content] == ["thinking", "text"]
                assert thought.content[0].thinking == "Plan: add."  # type: ignore[union-attr]
                assert thought.usage.input_tokens > 0
                sim.faults.http_errors.append("throttle")
                with pytest.raises(anthropic.RateLimitError):
                    await client.messages.create(
                        model="kiro/claude-sonnet-4.5",
                        max_tokens=64,
                        messages=[{"role": "user", "content": "hi"}],
                    )
                sim.faults.http_errors.append("too_long")
                with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
                    await client.messages.create(
                        model="kiro/claude-sonnet-4.5",
                        max_tokens=64,
                        messages=[{"role": "user", "content": "hi"}],
                    )
                with pytest.raises(anthropic.NotFoundError, match=r"kiro/claude-sonnet-4\.5"):
                    await client.messages.create(
                        model="kiro/claude-nonexistent-9",
                        max_tokens=64,
                        messages=[{"role": "user", "content": "hi"}],
                    )
            async with httpx.AsyncClient(base_url=url) as http:
                sim.faults.exception = "ThrottlingException"
                broken = await http.post(
                    "/v1/messages",
                    json={
                        "model": "kiro/claude-sonnet-4.5",
                        "max_tokens": 64,
                        "stream": True,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )
                events = sse_events(broken.content)
                assert events[-1].event == "error"
                assert json.loads(events[-1].data)["error"]["type"] == "rate_limit_error"
                sim.faults.exception = None
        nursery.cancel_scope.cancel()
    assert sim.violations == []


def _chat_tool_stream(url: str) -> tuple[str, str | None]:
    arguments, finish = "", None
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="kiro/claude-sonnet-4.5",
            stream=True,
            stream_options={"include_usage": True},
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "parameters": WEATHER["input_schema"],  # type: ignore[typeddict-item]
                    },
                }
            ],
            messages=[{"role": "user", "content": '[[call get_weather {"city": "Rome"}]]'}],
        )
        with stream:
            for chunk in stream:
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        arguments += call.function.arguments or ""  # type: ignore[union-attr]
                    finish = choice.finish_reason or finish
    return arguments, finish


async def test_openai_chat_and_responses(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = kiro_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            async with client:
                chat = await client.chat.completions.create(
                    model="kiro/claude-sonnet-4.5",
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "What is this?"},
                                {
                                    "type": "image_url",
                                    "image_url": {"url": f"data:image/png;base64,{PNG}"},
                                },
                            ],
                        }
                    ],
                )
                assert "What is this?" in (chat.choices[0].message.content or "")
                # The async SDK leaves its SSE generators unclosed at [DONE] (a trio
                # ResourceWarning), so streaming uses the sync client in a worker thread.
                arguments, finish = await trio.to_thread.run_sync(_chat_tool_stream, url)
                assert json.loads(arguments) == {"city": "Rome"} and finish == "tool_calls"
                response = await client.responses.create(model="kiro/claude-sonnet-4.5", input="hi")
                assert "You said: hi" in response.output_text
                sim.faults.http_errors.append("quota")
                with pytest.raises(openai.RateLimitError) as caught:
                    await client.chat.completions.create(
                        model="kiro/claude-sonnet-4.5",
                        messages=[{"role": "user", "content": "hi"}],
                    )
                assert caught.value.response.headers.get("x-should-retry") == "false"
        recs = await records.wait(4)
        nursery.cancel_scope.cancel()
    images = sim.generate_requests()[0].json()["conversationState"]["currentMessage"]
    assert images["userInputMessage"]["images"][0]["format"] == "png"
    assert [r.upstream_model for r in recs[:3]] == ["claude-sonnet-4.5"] * 3
    assert all(r.credits for r in recs[:3])


async def test_client_disconnect_reaches_the_simulator(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.hold_after_frames = 2
        async with serve(create_app(kiro_gateway(provider))) as url:
            body = {
                "model": "kiro/claude-sonnet-4.5",
                "max_tokens": 64,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
            stream = await open_raw_post(url, "/v1/messages", body)
            await receive_until(stream, b"content_block_delta")
            await stream.aclose()  # the client goes away mid-answer
            with trio.fail_after(5):
                await sim.disconnects.wait_value(lambda count: count >= 1)
        nursery.cancel_scope.cancel()
    assert sim.completed_streams == 0
