"""The official `openai` SDK consumes what our chat renderers produce, over a real socket.

A bare ASGI app served by hypercorn on 127.0.0.1:0 parses the SDK's request with
`parse_request` and answers with `StreamRenderer` (stream) or `render_response`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import hypercorn.config
import hypercorn.trio
import openai
import pytest
import trio

from aiclient_trio import errors, ir
from aiclient_trio.formats import openai_chat

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

USAGE = ir.Usage(input_tokens=10, output_tokens=20, cache_read_input_tokens=5)

ANSWER: list[ir.StreamEvent] = [
    ir.MessageStart("msg_sdk", "claude-sonnet-4.5", ir.Usage(input_tokens=9, input_estimated=True)),
    ir.BlockStart(0, ir.TextBlock("")),
    ir.TextDelta(0, "Hello "),
    ir.TextDelta(0, "world"),
    ir.BlockStop(0),
    ir.BlockStart(1, ir.ToolUseBlock("call_a", "Read")),
    ir.ToolInputDelta(1, '{"path":'),
    ir.ToolInputDelta(1, '"a.txt"}'),
    ir.BlockStop(1),
    ir.BlockStart(2, ir.ToolUseBlock("call_b", "Grep")),
    ir.ToolInputDelta(2, '{"q":'),
    ir.ToolInputDelta(2, '"x"}'),
    ir.BlockStop(2),
    ir.MessageDelta("tool_use", USAGE),
    ir.MessageStop(),
]

FAILURE: list[ir.StreamEvent] = [
    ir.MessageStart("msg_err", "m"),
    ir.BlockStart(0, ir.TextBlock("")),
    ir.TextDelta(0, "Partial"),
    ir.StreamError(errors.Overloaded("upstream overloaded")),
]


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return
    assert scope["path"] == "/v1/chat/completions"
    request = openai_chat.parse_request(json.loads(await read_body(receive)))
    events = FAILURE if request.messages[0].content == (ir.TextBlock("fail"),) else ANSWER
    if not request.stream:
        builder = ir.ResponseBuilder()
        for event in events:
            builder.feed(event)
        body = json.dumps(openai_chat.render_response(builder.response())).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        return await send({"type": "http.response.body", "body": body})
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    renderer = openai_chat.StreamRenderer(request.model, include_usage=request.include_usage)
    await send({"type": "http.response.body", "body": renderer.ping(), "more_body": True})
    for event in events:
        frame = renderer.feed(event)
        if frame:  # one write per event: the client sees real incremental frames
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def base_url(nursery: trio.Nursery) -> AsyncIterator[str]:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    bound = await nursery.start(hypercorn.trio.serve, app, config)
    yield f"{bound[0]}/v1"
    nursery.cancel_scope.cancel()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def consume_stream(base_url: str) -> dict[str, Any]:
    """The sync SDK, run in a worker thread. The async client works on Trio too, but it
    breaks out of its inner SSE async generators at [DONE] without closing them, and Trio
    reports those as ResourceWarnings when they are garbage collected."""
    text, finish, usage, ids = "", None, None, set()
    calls: dict[int, dict[str, str]] = {}
    with openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as sdk:
        stream = sdk.chat.completions.create(
            model="claude-sonnet-4.5",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        with stream:
            for chunk in stream:
                ids.add(chunk.id)
                if chunk.usage is not None:
                    assert chunk.choices == []
                    usage = chunk.usage
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    finish = choice.finish_reason or finish
                    for call in choice.delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] += call.id or ""
                        assert call.function is not None
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
    return {"text": text, "calls": calls, "finish": finish, "usage": usage, "ids": ids}


async def test_sdk_stream_accumulates_text_parallel_tools_and_usage(base_url: str) -> None:
    result = await trio.to_thread.run_sync(consume_stream, base_url)
    ids, calls, usage = result["ids"], result["calls"], result["usage"]
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert result["text"] == "Hello world"
    assert [calls[k] for k in sorted(calls)] == [
        {"id": "call_a", "name": "Read", "arguments": '{"path":"a.txt"}'},
        {"id": "call_b", "name": "Grep", "arguments": '{"q":"x"}'},
    ]
    assert result["finish"] == "tool_calls"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (15, 20, 35)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 5


async def test_sdk_non_stream_gives_the_same_answer(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="claude-sonnet-4.5", messages=[{"role": "user", "content": "hi"}]
    )
    message = completion.choices[0].message
    assert completion.id.startswith("chatcmpl-")
    assert message.content == "Hello world"
    assert message.tool_calls is not None
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in message.tool_calls
        if isinstance(c, openai.types.chat.ChatCompletionMessageFunctionToolCall)
    ] == [("call_a", "Read", {"path": "a.txt"}), ("call_b", "Grep", {"q": "x"})]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (15, 20)


async def test_sdk_raises_on_a_mid_stream_error(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "fail"}], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError, match="upstream overloaded") as caught:
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    text += choice.delta.content or ""
    assert text == "Partial"
    assert caught.value.code == "overloaded"
