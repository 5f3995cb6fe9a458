"""Every API route through the official `openai` and `anthropic` async SDKs (on anyio's
trio backend), stream and non-stream, against the gateway on a real socket."""

from __future__ import annotations

import anthropic
import openai
import pytest
import trio
from fakes import FakeProvider, Records, Script, make_gateway, serve
from openai.types import CompletionUsage

from aiclient_trio.config.types import Config
from aiclient_trio.errors import QuotaExceeded
from aiclient_trio.server.app import create_app

KEY = "sdk-key"


def _chat_stream_sync(url: str) -> tuple[list[str], CompletionUsage | None]:
    with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        usage = None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
        return parts, usage


async def test_anthropic_sdk_messages_stream_non_stream_and_count_tokens() -> None:
    provider = FakeProvider("copilot")
    gateway = make_gateway(provider, config=Config(api_key=KEY))
    async with serve(create_app(gateway)) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with client:
            message = await client.messages.create(
                model="fake-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            )
            assert message.content[0].type == "text"
            assert message.content[0].text == "Hello from fake"
            assert message.usage.output_tokens == 7
            assert message._request_id is not None

            async with client.messages.stream(
                model="fake-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                text = "".join([t async for t in stream.text_stream])
                final = await stream.get_final_message()
            assert text == "Hello from fake"
            assert final.stop_reason == "end_turn"
            assert final.usage.input_tokens == 11

            # Claude Code style auth (Bearer) works as well.
            bearer = anthropic.AsyncAnthropic(base_url=url, auth_token=KEY, max_retries=0)
            async with bearer:
                again = await bearer.messages.create(
                    model="copilot/fake-model",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "x"}],
                )
            assert again.model == "copilot/fake-model"

            provider.scripts["fake-model"] = Script(error=QuotaExceeded("monthly quota used up"))
            with pytest.raises(anthropic.RateLimitError) as info:
                await client.messages.create(
                    model="fake-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
                )
            assert info.value.response.headers["x-should-retry"] == "false"

            with pytest.raises(anthropic.NotFoundError):
                await client.messages.create(
                    model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
                )
            wrong = anthropic.AsyncAnthropic(base_url=url, api_key="nope", max_retries=0)
            async with wrong:
                with pytest.raises(anthropic.AuthenticationError):
                    await wrong.models.list()

            count = await client.messages.count_tokens(
                model="fake-model",
                system="You are terse.",
                messages=[{"role": "user", "content": "count these words please"}],
            )
            assert 5 <= count.input_tokens < 100

            page = await client.models.list()
            assert [m.id for m in page.data] == ["copilot/fake-model"]


async def test_openai_sdk_chat_responses_embeddings_models() -> None:
    provider = FakeProvider("copilot", ("fake-model", "text-embed-3"))
    gateway = make_gateway(provider, config=Config(api_key=KEY))
    records = Records(gateway)
    async with serve(create_app(gateway)) as url:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
        async with client:
            chat = await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}]
            )
            assert chat.choices[0].message.content == "Hello from fake"
            assert chat.usage is not None and chat.usage.completion_tokens == 7

            # The async SDK breaks out of its SSE generators at `[DONE]` without closing
            # them (trio reports that as a ResourceWarning), so chat streaming uses the
            # sync client in a worker thread.
            parts, usage = await trio.to_thread.run_sync(_chat_stream_sync, url)
            assert "".join(parts) == "Hello from fake"
            assert usage is not None and usage.prompt_tokens == 11

            response = await client.responses.create(model="fake-model", input="hi")
            assert response.output_text == "Hello from fake"

            events = await client.responses.create(model="fake-model", input="hi", stream=True)
            kinds = [event.type async for event in events]
            assert kinds[0] == "response.created" and kinds[-1] == "response.completed"

            emb = await client.embeddings.create(
                model="text-embed-3", input=["a"], encoding_format="float"
            )
            assert emb.data[0].embedding == [0.5, -0.25, 0.125]

            models = await client.models.list()
            assert {m.id for m in models.data} == {"copilot/fake-model", "copilot/text-embed-3"}
            assert all(m.owned_by == "copilot" for m in models.data)

            with pytest.raises(openai.NotFoundError) as info:
                await client.chat.completions.create(
                    model="no-such-model", messages=[{"role": "user", "content": "x"}]
                )
            assert info.value.request_id is not None
    recs = await records.wait(6)
    assert [r.endpoint for r in recs[:2]] == ["/v1/chat/completions"] * 2
