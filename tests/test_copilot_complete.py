"""Translated non-stream answers from Copilot's chat/completions in one JSON body: the same
answers (text, tool calls, thinking, usage, errors) as gathering the upstream's stream, which
is what the route did before; checked through the official SDKs against the simulators."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from copilot_helpers import copilot_gateway, start_copilot_for_tests
from fakes import serve

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.errors import Overloaded, UpstreamError
from aiclient_trio.formats import openai_chat
from aiclient_trio.providers.copilot import provider as copilot_provider
from aiclient_trio.providers.copilot.bodies import chat_response
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator import copilot_replies as replies
from aiclient_trio.simulator.script import plan_reply

READ = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
TEXTS = {
    "text": "Say hello.",
    "tool": 'Look [[call Read {"path": "a.txt"}]]',
    "thinking": "[[think weighing it up]] Then answer.",
    "thinking_and_tool": '[[think first]] [[call Read {"path": "b"}]]',
}


@asynccontextmanager
async def _gateway(tmp_path: Path, **limits: Any) -> AsyncIterator[tuple[str, Any]]:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider, **limits))) as url:
            yield url, sim
        nursery.cancel_scope.cancel()


def _chat_calls(sim: Any) -> list[Any]:
    return [
        r for r in sim.state.requests if r.service == "copilot" and r.path == "/chat/completions"
    ]


async def _twice(
    monkeypatch: pytest.MonkeyPatch, sim: Any, call: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer with one upstream body, then with the upstream streamed (the old path)."""
    one_body = (await call()).model_dump()
    monkeypatch.setattr(copilot_provider, "_ONE_BODY_MAX_TOKENS", 0)
    streamed = (await call()).model_dump()
    monkeypatch.undo()
    first, second = _chat_calls(sim)[-2:]
    assert "stream" not in first.body and "stream_options" not in first.body
    assert second.body["stream"] is True
    return one_body, streamed


@pytest.mark.parametrize("case", sorted(TEXTS))
async def test_anthropic_client_gets_the_same_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    async with _gateway(tmp_path) as (url, sim):
        client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
        async with client:

            async def call() -> Any:
                return await client.messages.create(
                    model="copilot/gpt-4o",
                    max_tokens=256,
                    tools=[READ],  # type: ignore[list-item]
                    messages=[{"role": "user", "content": TEXTS[case]}],
                )

            one_body, streamed = await _twice(monkeypatch, sim, call)
    assert one_body == streamed
    kinds = [b["type"] for b in one_body["content"]]
    assert (
        kinds
        == {
            "text": ["text"],
            "tool": ["text", "tool_use"],
            "thinking": ["thinking", "text"],
            "thinking_and_tool": ["thinking", "text", "tool_use"],
        }[case]
    )
    assert one_body["usage"]["input_tokens"] > 0 and one_body["usage"]["output_tokens"] > 0
    assert one_body["stop_reason"] == ("tool_use" if "tool" in case else "end_turn")


@pytest.mark.parametrize("model", ["claude-sonnet-4.5", "gpt-4o"])
@pytest.mark.parametrize("case", sorted(TEXTS))
async def test_responses_client_gets_the_same_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, case: str
) -> None:
    # Responses -> Claude goes through chat/completions, where Claude splits its choices.
    tool = {"type": "function", "name": "Read", "parameters": READ["input_schema"]}
    async with _gateway(tmp_path) as (url, sim):
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        async with client:

            async def call() -> Any:
                return await client.responses.create(
                    model=f"copilot/{model}",
                    max_output_tokens=512,
                    tools=[tool],  # type: ignore[list-item]
                    input=TEXTS[case],
                )

            one_body, streamed = await _twice(monkeypatch, sim, call)
    for answer in (one_body, streamed):
        answer.pop("created_at")
    assert one_body == streamed
    kinds = [item["type"] for item in one_body["output"]]
    assert ("function_call" in kinds) == ("tool" in case)
    assert ("reasoning" in kinds) == ("thinking" in case)
    assert one_body["usage"]["input_tokens"] > 0 and one_body["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("status", [400, 402, 403, 404, 413])
async def test_upstream_errors_map_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    async with _gateway(tmp_path) as (url, sim):
        client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
        async with client:

            async def call() -> tuple[int, Any]:
                with pytest.raises(anthropic.APIStatusError) as caught:
                    await client.messages.create(
                        model="copilot/gpt-4o",
                        max_tokens=64,
                        messages=[{"role": "user", "content": f"[[error {status}]]"}],
                    )
                body = dict(caught.value.body)  # type: ignore[call-overload]
                body.pop("request_id")  # each request's own id
                return caught.value.status_code, body

            one_body = await call()
            monkeypatch.setattr(copilot_provider, "_ONE_BODY_MAX_TOKENS", 0)
            streamed = await call()
            calls = _chat_calls(sim)
    # A 403 is replayed once with a fresh token (it may be one minted before a seat change).
    assert len(calls) == (4 if status == 403 else 2)
    first, second = calls[0], calls[-1]
    assert "stream" not in first.body and second.body["stream"] is True
    assert one_body == streamed
    assert one_body[0] >= 400


@pytest.mark.parametrize(
    ("max_tokens", "thinking", "streamed"),
    [(64, None, False), (4096, None, False), (4097, None, True), (3000, 2000, True)],
)
async def test_only_surely_short_answers_come_in_one_body(
    tmp_path: Path, max_tokens: int, thinking: int | None, streamed: bool
) -> None:
    # A whole body must arrive within the first-byte timeout; long answers keep streaming.
    extra: dict[str, Any] = {}
    if thinking is not None:
        extra["thinking"] = {"type": "enabled", "budget_tokens": thinking}
    async with _gateway(tmp_path) as (url, sim):
        client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
        async with client:
            message = await client.messages.create(
                model="copilot/gpt-4o",
                max_tokens=max_tokens,
                messages=[{"role": "user", "content": "Say hello."}],
                **extra,
            )
        assert message.content[0].type == "text"
        assert _chat_calls(sim)[-1].body.get("stream", False) is streamed


# --------------------------------------------------------------------------- pure parity


def _gathered(chunks: list[dict[str, Any]], estimate: int) -> ir.Response:
    decoder = SSEDecoder()
    parser = openai_chat.StreamParser(model="m", input_estimate=estimate)
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    events = [e for sse in decoder.feed(data + b"data: [DONE]\n\n") for e in parser.feed(sse)]
    builder = ir.ResponseBuilder()
    for event in events + parser.close():
        builder.feed(event)
    return builder.response()


@pytest.mark.parametrize("claude", [True, False])
@pytest.mark.parametrize("case", sorted(TEXTS))
def test_one_body_equals_the_gathered_stream(claude: bool, case: str) -> None:
    reply = plan_reply(
        simulator=replies.SIMULATOR, last_user_text=TEXTS[case], offered_tools=["Read"]
    )
    turn = replies.Turn(reply, 42)
    body = json.dumps(replies.chat_body(turn, "m", claude=claude)).encode()
    whole = chat_response(body, "m", lambda: 10)
    assert whole == _gathered(replies.chat_chunks(turn, "m", claude=claude), 10)
    if claude and "tool" in case:  # the split answer really had two choices
        assert len(json.loads(body)["choices"]) == 2


def test_one_body_without_usage_or_id_is_estimated_like_the_stream() -> None:
    body = {"choices": [{"index": 0, "message": {"content": "abcdefgh"}, "finish_reason": "stop"}]}
    whole = chat_response(json.dumps(body).encode(), "m", lambda: 7)
    chunk = {"choices": [{"index": 0, "delta": {"content": "abcdefgh"}, "finish_reason": "stop"}]}
    gathered = _gathered([chunk], 7)
    assert (
        whole.usage == gathered.usage == ir.Usage(7, 2, input_estimated=True, output_estimated=True)
    )
    assert whole.id.startswith("chatcmpl-") and len(whole.id) > len("chatcmpl-")
    assert whole.content == gathered.content and whole.stop_reason == "end_turn"


def test_one_body_errors() -> None:
    error = {"error": {"message": "upstream overloaded", "code": "overloaded"}}
    with pytest.raises(Overloaded, match="upstream overloaded"):
        chat_response(json.dumps(error).encode(), "m", lambda: 1)
    with pytest.raises(UpstreamError, match="malformed JSON"):
        chat_response(b"data: {not json", "m", lambda: 1)
    with pytest.raises(UpstreamError, match="not a JSON object"):
        chat_response(b"[1, 2]", "m", lambda: 1)


# --------------------------------------------------------------------------- faults


async def _post_messages(url: str, text: str, timeout: float = 10.0) -> httpx.Response:
    body = {
        "model": "copilot/gpt-4o",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }
    async with httpx.AsyncClient(timeout=timeout) as http:
        return await http.post(url + "/v1/messages", json=body)


async def test_a_body_cut_midway_is_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _gateway(tmp_path, retries=0) as (url, sim):
        one_body = await _post_messages(url, "cut [[reset-after 3]]")
        monkeypatch.setattr(copilot_provider, "_ONE_BODY_MAX_TOKENS", 0)
        streamed = await _post_messages(url, "cut [[reset-after 3]]")
        first, second = _chat_calls(sim)
    assert "stream" not in first.body and second.body["stream"] is True
    assert one_body.status_code == streamed.status_code == 502
    assert one_body.json()["error"] == streamed.json()["error"]
    assert "broke off" in one_body.json()["error"]["message"]


async def test_the_first_byte_timeout_covers_the_whole_body(tmp_path: Path) -> None:
    async with _gateway(tmp_path, first_byte_timeout=0.3, retries=0) as (url, sim):
        with trio.fail_after(10):
            response = await _post_messages(url, "slow [[stall-ms 60000]]")
            await sim.state.wait_for_disconnects(1)  # the upstream call was abandoned
    assert "stream" not in _chat_calls(sim)[-1].body
    assert response.status_code == 504
    assert "no answer from the upstream within 0.3 s" in response.json()["error"]["message"]


async def test_a_client_leaving_abandons_the_upstream_call(tmp_path: Path) -> None:
    async with _gateway(tmp_path) as (url, sim):
        with trio.fail_after(10):
            with pytest.raises(httpx.ReadTimeout):
                await _post_messages(url, "slow [[stall-ms 60000]]", timeout=0.3)
            await sim.state.wait_for_disconnects(1)
    assert "stream" not in _chat_calls(sim)[-1].body
