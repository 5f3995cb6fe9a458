"""The official `openai` SDK consumes our Responses renderers over a real socket.

A bare ASGI app served by hypercorn on 127.0.0.1:0 parses the SDK's body with
`responses.parse_request` and answers with `StreamRenderer` frames or `render_response`.
The SDK's async client runs on anyio, here on the trio backend.
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
from aiclient_trio.formats import responses

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ANSWER: list[ir.StreamEvent] = [
    ir.MessageStart("sdk1", "upstream-model", ir.Usage(input_tokens=9, input_estimated=True)),
    ir.BlockStart(0, ir.ThinkingBlock("")),
    ir.ThinkingDelta(0, "Check the file."),
    ir.SignatureDelta(0, "enc-sig"),
    ir.BlockStop(0),
    ir.BlockStart(1, ir.TextBlock("")),
    ir.TextDelta(1, "Hello "),
    ir.TextDelta(1, "world"),
    ir.BlockStop(1),
    ir.BlockStart(2, ir.ToolUseBlock("call_a", "shell")),
    ir.ToolInputDelta(2, '{"cmd":'),
    ir.ToolInputDelta(2, '"cat a.txt"}'),
    ir.BlockStop(2),
    ir.BlockStart(3, ir.ToolUseBlock("call_b", "apply_patch")),
    ir.ToolInputDelta(3, '{"input": "*** Begin Patch\\n*** End Patch"}'),
    ir.BlockStop(3),
    ir.MessageDelta(
        "tool_use", ir.Usage(input_tokens=10, output_tokens=20, cache_read_input_tokens=5)
    ),
    ir.MessageStop(),
]

FAILURE: list[ir.StreamEvent] = [
    ir.MessageStart("sdk2", "m"),
    ir.BlockStart(0, ir.TextBlock("")),
    ir.TextDelta(0, "Partial"),
    ir.StreamError(errors.ContextLengthExceeded("prompt is too long")),
]

TOOLS: list[Any] = [
    {"type": "function", "name": "shell", "parameters": {"type": "object"}, "strict": False},
    {"type": "custom", "name": "apply_patch", "description": "Edit files."},
]


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                return await send({"type": "lifespan.shutdown.complete"})
    assert scope["path"] == "/v1/responses"
    try:
        request = responses.parse_request(json.loads(await read_body(receive)))
    except errors.GatewayError as error:
        return await send_json(send, error.status, errors.openai_error_body(error))
    custom = request.custom_tools
    events = FAILURE if request.model == "fail" else ANSWER
    if not request.stream:
        builder = ir.ResponseBuilder()
        for event in events:
            builder.feed(event)
        answer = responses.render_response(builder.response(), custom_tools=custom)
        return await send_json(send, 200, answer)
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    renderer = responses.StreamRenderer(request.model, custom_tools=custom)
    await send({"type": "http.response.body", "body": renderer.ping(), "more_body": True})
    for event in events:
        frame = renderer.feed(event)
        if frame:  # one write per IR event: the SDK sees real incremental frames
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def client(nursery: trio.Nursery) -> AsyncIterator[openai.AsyncOpenAI]:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    bound = await nursery.start(hypercorn.trio.serve, app, config)
    async with openai.AsyncOpenAI(
        base_url=f"{bound[0]}/v1", api_key="sk-test", max_retries=0
    ) as sdk:
        yield sdk
    nursery.cancel_scope.cancel()


def _check_output(output: list[Any]) -> None:
    """The items Codex needs: signed reasoning, the text, complete tool calls."""
    assert [item.type for item in output] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
    ]
    reasoning, message, call, custom = output
    assert reasoning.encrypted_content == "enc-sig"
    assert [s.text for s in reasoning.summary] == ["Check the file."]
    assert [c.text for c in message.content] == ["Hello world"]
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_a",
        "shell",
        {"cmd": "cat a.txt"},
    )
    assert (custom.call_id, custom.name, custom.input) == (
        "call_b",
        "apply_patch",
        "*** Begin Patch\n*** End Patch",
    )


async def test_sdk_stream_reaches_completed_with_tool_calls(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model="gpt-5-codex", input="read a.txt", tools=TOOLS, stream=True
    )
    events = []
    async with stream:
        async for event in stream:
            events.append(event)
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    done_calls = [
        e.item for e in events if e.type == "response.output_item.done" and "call" in e.item.type
    ]
    assert [(c.call_id, c.status) for c in done_calls] == [
        ("call_a", "completed"),
        ("call_b", "completed"),
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello world"
    final = events[-1].response
    assert final.id == "resp_sdk1" and final.model == "gpt-5-codex"
    _check_output(final.output)
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (15, 20)
    assert final.usage.input_tokens_details.cached_tokens == 5


async def test_sdk_stream_helper_final_response(client: openai.AsyncOpenAI) -> None:
    async with client.responses.stream(
        model="gpt-5-codex", input="read a.txt", tools=TOOLS
    ) as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == "Hello world"
    assert final.output_text == "Hello world"
    assert final.status == "completed"
    _check_output(final.output)


async def test_sdk_non_stream_parses(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(
        model="gpt-5-codex",
        input=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        tools=TOOLS,
    )
    assert response.object == "response"
    assert response.output_text == "Hello world"
    _check_output(response.output)
    assert response.usage is not None and response.usage.total_tokens == 35


async def test_sdk_sees_response_failed(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="fail", input="hi", stream=True)
    async with stream:
        events = [event async for event in stream]
    assert [e.type for e in events][-2:] == ["response.output_text.delta", "response.failed"]
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    assert failed.response.error is not None
    assert failed.response.error.code == "context_length_exceeded"
    assert failed.response.error.message == "prompt is too long"


async def test_sdk_previous_response_id_is_a_bad_request(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="stateless") as caught:
        await client.responses.create(model="m", input="again", previous_response_id="resp_old")
    assert caught.value.param == "previous_response_id"
