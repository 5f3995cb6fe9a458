"""Copilot's per-model limits (2026), met before the call instead of an opaque upstream 400.

The simulator refuses what the service refuses (a long non-stream answer, more embeddings
inputs than `max_inputs`, more than 128 tools on OpenAI endpoints, images over the vision
limits); the gateway streams and gathers the long answer, batches the embeddings, and turns
the rest into a clear 400 naming the limit, sent before any upstream call.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
import trio.testing
from copilot_helpers import start_copilot_for_tests, start_provider, start_simulators
from fakes import Records, make_gateway, serve

from aiclient_trio.server.app import create_app

HI = [{"role": "user", "content": "hi"}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()


def _posts(sim: Any) -> list[Any]:
    return [r for r in sim.state.recorded("copilot") if r.method == "POST"]


async def test_the_simulator_refuses_a_long_non_stream_answer(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        assert provider.tokens is not None
        token = (await provider.tokens.get()).token
        async with httpx.AsyncClient(base_url=sim.api_url) as http:
            refused = await http.post(
                "/v1/messages",
                headers={
                    "authorization": f"Bearer {token}",
                    "editor-version": "vscode/1.122.1",
                    "x-github-api-version": "2026-06-01",
                },
                json={"model": "claude-sonnet-4.5", "max_tokens": 32000, "messages": HI},
            )
        nursery.cancel_scope.cancel()
    assert refused.status_code == 400
    assert "non-streaming" in refused.json()["error"]["message"]


async def test_a_long_non_stream_answer_is_streamed_upstream_and_gathered(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
            async with client:
                long = await client.messages.create(
                    model="copilot/claude-sonnet-4.5", max_tokens=20000, messages=HI
                )
                short = await client.messages.create(
                    model="copilot/claude-sonnet-4.5", max_tokens=8000, messages=HI
                )

            def chat() -> str:
                with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as oai:
                    answer = oai.chat.completions.create(
                        model="copilot/claude-sonnet-4.5",
                        max_tokens=20000,
                        messages=HI,  # type: ignore[arg-type]
                    )
                    return answer.choices[0].message.content or ""

            chat_text = await trio.to_thread.run_sync(chat)
            recs = await records.wait(3)
        nursery.cancel_scope.cancel()
    for message in (long, short):
        assert message.type == "message" and message.stop_reason == "end_turn"
        assert message.content[0].text.startswith("Hello from the Copilot simulator")  # type: ignore[union-attr]
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert chat_text.startswith("Hello from the Copilot simulator")
    posts = _posts(sim)
    assert [(p.path, bool(p.body.get("stream"))) for p in posts] == [
        ("/v1/messages", True),  # 20000 > 16000: streamed and gathered
        ("/v1/messages", False),
        ("/chat/completions", True),
    ]
    assert posts[2].body["stream_options"] == {"include_usage": True}
    assert all(r.outcome == "ok" and r.credits for r in recs)


async def test_embeddings_are_batched_to_max_inputs_and_joined_in_order(tmp_path: Path) -> None:
    texts = [f"text number {i}" for i in range(600)]
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            async with client:
                many = await client.embeddings.create(
                    model="copilot/text-embedding-3-small", input=texts
                )
                one = await client.embeddings.create(
                    model="copilot/text-embedding-3-small", input=[texts[555]]
                )
        nursery.cancel_scope.cancel()
    sizes = [len(p.body["input"]) for p in _posts(sim)]
    assert sizes == [512, 88, 1]  # the simulator's max_inputs is 512
    assert [d.index for d in many.data] == list(range(600))
    assert many.data[555].embedding == one.data[0].embedding
    assert many.data[0].embedding != many.data[1].embedding
    assert many.usage.prompt_tokens > one.usage.prompt_tokens


def _tools(n: int) -> list[dict[str, Any]]:
    schema = {"type": "object", "properties": {}}
    return [
        {"type": "function", "function": {"name": f"t{i}", "parameters": schema}} for i in range(n)
    ]


@pytest.mark.parametrize("model", ["gpt-4.1", "claude-sonnet-4.5"])
async def test_more_than_128_tools_is_a_clear_400_before_the_call(
    tmp_path: Path, model: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=2)
            async with client:
                with pytest.raises(openai.BadRequestError) as caught:
                    await client.chat.completions.create(
                        model=f"copilot/{model}",
                        messages=HI,  # type: ignore[arg-type]
                        tools=_tools(129),  # type: ignore[arg-type]
                    )
                fine = await client.chat.completions.create(
                    model=f"copilot/{model}",
                    messages=HI,  # type: ignore[arg-type]
                    tools=_tools(128),  # type: ignore[arg-type]
                )
        nursery.cancel_scope.cancel()
    assert "at most 128 tools" in caught.value.message and "129" in caught.value.message
    assert caught.value.param == "tools"
    assert fine.choices[0].message.content
    assert len(_posts(sim)) == 1  # only the 128-tool call went out


def _image(media_type: str = "image/png", data: str = PNG) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([_image()] * 6, "at most 5 images"),
        ([_image("image/bmp")], "image/bmp"),
        ([_image(data="A" * (5 * 1024 * 1024))], "max_prompt_image_size"),
    ],
)
@pytest.mark.parametrize("model", ["claude-sonnet-4.5", "gpt-4o"])  # passthrough, translated
async def test_images_over_the_vision_limits_are_refused_before_the_call(
    tmp_path: Path, images: list[dict[str, Any]], expected: str, model: str
) -> None:
    content = [*images, {"type": "text", "text": "what is this?"}]
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=2)
            async with client:
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await client.messages.create(
                        model=f"copilot/{model}",
                        max_tokens=64,
                        messages=[{"role": "user", "content": content}],  # type: ignore[list-item]
                    )
                fine = await client.messages.create(
                    model=f"copilot/{model}",
                    max_tokens=64,
                    messages=[{"role": "user", "content": [_image(), content[-1]]}],  # type: ignore[list-item]
                )
        nursery.cancel_scope.cancel()
    assert expected in caught.value.message
    assert fine.content
    assert len(_posts(sim)) == 1


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


async def test_the_model_list_refreshes_every_10_minutes_and_survives_a_429(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    provider = await start_provider(nursery, tmp_path, sim)
    listed = [m.id for m in provider.models()]
    version = provider.models_version.value
    sim.state.faults.models_rate_limited = 1
    await trio.sleep(601)  # virtual time: the 10-minute refresh meets a 429
    assert len(sim.state.recorded("copilot", "/models")) == 2
    assert [m.id for m in provider.models()] == listed  # the cache is kept
    assert provider.models_version.value == version
    await trio.sleep(600)
    assert len(sim.state.recorded("copilot", "/models")) == 3
    assert provider.models_version.value == version + 1
    nursery.cancel_scope.cancel()
