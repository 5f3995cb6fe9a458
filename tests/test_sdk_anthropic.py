"""The official `anthropic` SDK reads what our Anthropic renderers write, over a real socket.

A bare ASGI app served by hypercorn on 127.0.0.1:0 answers with `StreamRenderer` frames
(or `render_response` / an error body); the SDK's async client runs on Trio through anyio.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anthropic as sdk
import hypercorn
import hypercorn.trio
import pytest
import trio

from aiclient_trio import errors, ir
from aiclient_trio.formats import anthropic

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MODEL = "claude-opus-4-8"

EVENTS: list[ir.StreamEvent] = [
    ir.MessageStart("msg_sdk", "upstream", ir.Usage(input_tokens=25, cache_read_input_tokens=5)),
    ir.BlockStart(0, ir.ThinkingBlock("")),
    ir.ThinkingDelta(0, "The user wants "),
    ir.ThinkingDelta(0, "the weather."),
    ir.SignatureDelta(0, "EqQBCkYIARgC+/=="),
    ir.BlockStop(0),
    ir.BlockStart(1, ir.TextBlock("")),
    ir.TextDelta(1, "Let me "),
    ir.TextDelta(1, "check. é世"),
    ir.BlockStop(1),
    ir.BlockStart(2, ir.ToolUseBlock("toolu_01", "get_weather")),
    ir.ToolInputDelta(2, '{"location": "Par'),
    ir.ToolInputDelta(2, 'is", "days": 2}'),
    ir.BlockStop(2),
    ir.MessageDelta(
        "tool_use", ir.Usage(input_tokens=25, output_tokens=42, cache_read_input_tokens=5)
    ),
    ir.MessageStop(),
]


def _response() -> ir.Response:
    builder = ir.ResponseBuilder()
    for event in EVENTS:
        builder.feed(event)
    return builder.response()


def _app(events: list[ir.StreamEvent], error: errors.GatewayError | None = None) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": f"{kind}.complete"})
                if kind == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = anthropic.parse_request(json.loads(body))
        if error is not None:
            payload = json.dumps(errors.anthropic_error_body(error)).encode()
            headers = [(b"content-type", b"application/json")]
            headers += [(k.encode(), v.encode()) for k, v in errors.error_headers(error).items()]
            await send({"type": "http.response.start", "status": error.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        if not request.stream:
            # The server answers with the client's model name, as the renderer does.
            answer = replace(_response(), model=request.model)
            payload = json.dumps(anthropic.render_response(answer)).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        renderer = anthropic.StreamRenderer(model=request.model)
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": renderer.ping(), "more_body": True})
        for event in events:
            chunk = renderer.feed(event)
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[sdk.AsyncAnthropic]:
    config = hypercorn.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(hypercorn.trio.serve, app, config)
        client = sdk.AsyncAnthropic(api_key="test-key", base_url=bound[0], max_retries=0)
        try:
            yield client
        finally:
            await client.close()
            nursery.cancel_scope.cancel()


def _check_final(message: Any) -> None:
    assert message.id == "msg_sdk"
    assert message.model == MODEL
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.thinking == "The user wants the weather."
    assert thinking.signature == "EqQBCkYIARgC+/=="
    assert text.text == "Let me check. é世"
    assert (tool.id, tool.name, tool.input) == (
        "toolu_01",
        "get_weather",
        {"location": "Paris", "days": 2},
    )
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 25
    assert message.usage.output_tokens == 42
    assert message.usage.cache_read_input_tokens == 5


async def test_sdk_stream_accumulates_thinking_text_and_tool_use() -> None:
    async with (
        serve(_app(EVENTS)) as client,
        client.messages.stream(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "weather?"}]
        ) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "content_block_delta" in kinds
    assert kinds[-1] == "message_stop"
    _check_final(final)


async def test_sdk_non_stream_create_gives_the_same_message() -> None:
    async with serve(_app(EVENTS)) as client:
        message = await client.messages.create(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "weather?"}]
        )
    _check_final(message)


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (errors.Overloaded("upstream overloaded"), "overloaded_error"),
        (errors.RateLimited("slow down"), "rate_limit_error"),
        (
            errors.ContextLengthExceeded("prompt is too long: 9 tokens > 5 maximum"),
            "invalid_request_error",
        ),
    ],
)
async def test_sdk_raises_on_a_mid_stream_error_event(
    error: errors.GatewayError, error_type: str
) -> None:
    events = [*EVENTS[:8], ir.StreamError(error), *EVENTS[8:]]
    seen: list[str] = []
    async with serve(_app(events)) as client:
        with pytest.raises(sdk.APIStatusError) as caught:
            async with client.messages.stream(
                model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for event in stream:
                    seen.append(event.type)
    # After HTTP 200 the SDK can only raise its generic status error; the body says which.
    assert caught.value.body == {
        "type": "error",
        "error": {"type": error_type, "message": error.message},
    }
    assert seen[:2] == ["message_start", "content_block_start"]
    assert "message_stop" not in seen


@pytest.mark.parametrize(
    ("error", "exception"),
    [
        (errors.Overloaded("busy"), sdk.OverloadedError),
        (errors.RateLimited("slow", retry_after=3), sdk.RateLimitError),
        (errors.InvalidRequest("messages.0.role: unknown role 'bot'"), sdk.BadRequestError),
        (errors.AuthenticationError("bad key"), sdk.AuthenticationError),
        (errors.NotFound("no such model"), sdk.NotFoundError),
    ],
)
async def test_sdk_maps_error_responses_to_its_exception_classes(
    error: errors.GatewayError, exception: type[sdk.APIStatusError]
) -> None:
    async with serve(_app(EVENTS, error=error)) as client:
        with pytest.raises(exception) as caught:
            await client.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == error.status
    assert error.message in str(caught.value)
