"""The OpenAI chat format: fixture tables for every mapping, round trips, byte splits."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_json import block_from, request_from

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import SSEDecoder, SSEEvent
from aiclient_trio.formats import openai_chat

DATA = Path(__file__).parent / "data" / "openai_chat"


def fixtures(topic: str) -> list[Any]:
    return [
        pytest.param(json.loads(path.read_text()), id=path.stem)
        for path in sorted((DATA / topic).glob("*.json"))
    ]


def fixture(topic: str, name: str) -> Any:
    return json.loads((DATA / topic / f"{name}.json").read_text())


# --------------------------------------------------------------------------- IR <-> JSON


def to_json(value: Any) -> Any:
    """IR objects as plain JSON values (events get an "event" key with their class name)."""
    if isinstance(value, errors.GatewayError):
        return type(value).__name__
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if type(value).__name__ in _EVENT_NAMES:
            out["event"] = type(value).__name__
        if isinstance(value, ir.StreamError):
            out["message"] = value.error.message
        return out
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


_EVENT_NAMES = {
    "MessageStart",
    "BlockStart",
    "TextDelta",
    "ThinkingDelta",
    "SignatureDelta",
    "ToolInputDelta",
    "BlockStop",
    "MessageDelta",
    "MessageStop",
    "StreamError",
}


def response_from(data: dict[str, Any]) -> ir.Response:
    data = dict(data)
    data["content"] = tuple(block_from(b) for b in data["content"])
    data["usage"] = ir.Usage(**data["usage"])
    return ir.Response(**data)


def event_from(data: dict[str, Any]) -> ir.StreamEvent:
    data = dict(data)
    cls = getattr(ir, data.pop("event"))
    if "block" in data:
        data["block"] = block_from(data["block"])
    if "usage" in data:
        data["usage"] = ir.Usage(**data["usage"])
    if cls is ir.StreamError:
        return ir.StreamError(getattr(errors, data["error"])(data["message"]))
    event: ir.StreamEvent = cls(**data)
    return event


def assert_matches(actual: Any, expected: Any, where: str = "$") -> None:
    """Every key the fixture names must match; keys it leaves out are not checked."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing in {actual!r}"
            assert_matches(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_matches(a, e, f"{where}[{k}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("case", fixtures("parse_request"))
def test_parse_request(case: dict[str, Any]) -> None:
    if "cases" in case:
        for bad in case["cases"]:
            with pytest.raises(errors.InvalidRequest) as caught:
                openai_chat.parse_request(bad["body"])
            assert caught.value.param == bad["param"], bad
            if bad["param"]:
                assert bad["param"] in caught.value.message
        return
    assert_matches(to_json(openai_chat.parse_request(case["body"])), case["expected"])


@pytest.mark.parametrize("case", fixtures("render_request"))
def test_render_request(case: dict[str, Any]) -> None:
    assert openai_chat.render_request(request_from(case["request"])) == case["expected"]


def test_render_request_f9_built_by_hand() -> None:
    """copilot.md F9: the Anthropic body, translated by hand into IR, renders as expected."""
    request = ir.Request(
        model="claude-sonnet-4.5",
        max_tokens=1024,
        stream=True,
        user="u1",
        system=(ir.TextBlock("You are terse."), ir.TextBlock("Use tools.", {"type": "ephemeral"})),
        stop_sequences=("END",),
        tool_choice=ir.ToolChoice("any"),
        tools=(
            ir.Tool(
                "Read",
                "read a file",
                {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            ),
        ),
        messages=(
            ir.Message(
                "user",
                (
                    ir.TextBlock("What is in this image?"),
                    ir.ImageBlock(media_type="image/png", data="iVBOR"),
                ),
            ),
            ir.Message(
                "assistant",
                (ir.TextBlock("Reading."), ir.ToolUseBlock("toolu_1", "Read", {"path": "a.txt"})),
            ),
            ir.Message(
                "user",
                (
                    ir.ToolResultBlock("toolu_1", (ir.TextBlock("hello"),)),
                    ir.TextBlock("<system-reminder>x</system-reminder>"),
                ),
            ),
        ),
    )
    expected = fixture("render_request", "f9_anthropic_to_chat")["expected"]
    assert openai_chat.render_request(request) == expected


def test_render_request_keeps_openai_extras_and_effort() -> None:
    parsed = openai_chat.parse_request(
        {
            "model": "gpt-5",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"},
            "reasoning_effort": "low",
        }
    )
    body = openai_chat.render_request(parsed)
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low"
    assert "thinking_budget" not in body
    disabled = openai_chat.parse_request(
        {
            "model": "gpt-5.1",
            "messages": [{"role": "user", "content": "x"}],
            "reasoning_effort": "none",
        }
    )
    assert disabled.thinking == ir.ThinkingConfig("disabled", effort="none")
    assert openai_chat.render_request(disabled)["reasoning_effort"] == "none"


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("case", fixtures("parse_response"))
def test_parse_response(case: dict[str, Any]) -> None:
    if "cases" in case:
        for bad in case["cases"]:
            with pytest.raises(errors.GatewayError) as caught:
                openai_chat.parse_response(bad["body"])
            assert type(caught.value).__name__ == bad["error"], bad
        return
    assert_matches(to_json(openai_chat.parse_response(case["body"])), case["expected"])


@pytest.mark.parametrize("case", fixtures("render_response"))
def test_render_response(case: dict[str, Any]) -> None:
    if "cases" in case:
        for row in case["cases"]:
            response = ir.Response(
                "chatcmpl-1", "m", (ir.TextBlock("x"),), row["stop_reason"], ir.Usage()
            )
            body = openai_chat.render_response(response)
            assert body["choices"][0]["finish_reason"] == row["finish_reason"], row
            assert openai_chat.parse_response(body).stop_reason == row["parsed"], row
        return
    rendered = openai_chat.render_response(response_from(case["response"]), created=1700000000)
    assert rendered == case["expected"]


# --------------------------------------------------------------------------- streams


def parse_chunks(case: dict[str, Any]) -> list[ir.StreamEvent]:
    parser = openai_chat.StreamParser(case["model"], case.get("input_estimate", 0))
    events: list[ir.StreamEvent] = []
    for chunk in case["chunks"]:
        data = chunk if isinstance(chunk, str) else json.dumps(chunk)
        events += parser.feed(SSEEvent(data))
    return events + parser.close()


def parse_writes(case: dict[str, Any], writes: list[bytes]) -> list[ir.StreamEvent]:
    decoder = SSEDecoder()
    parser = openai_chat.StreamParser(case["model"], case.get("input_estimate", 0))
    events: list[ir.StreamEvent] = []
    for write in writes:
        for sse in decoder.feed(write):
            events += parser.feed(sse)
    for sse in decoder.close():
        events += parser.feed(sse)
    return events + parser.close()


def stream_bytes(case: dict[str, Any]) -> bytes:
    if "writes" in case:
        return "".join(case["writes"]).encode()
    frames = [b": upstream comment\n\n"]
    for chunk in case["chunks"]:
        data = chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False)
        frames.append(f"data: {data}\n\n".encode())
    return b"".join(frames)


@pytest.mark.parametrize("case", fixtures("stream_parse"))
def test_stream_parse(case: dict[str, Any]) -> None:
    if "writes" in case:
        events = parse_writes(case, [w.encode() for w in case["writes"]])
    else:
        events = parse_chunks(case)
    assert_matches(to_json(events), case["expected"])


@pytest.mark.parametrize("case", fixtures("stream_parse"))
def test_stream_parse_survives_any_byte_split(case: dict[str, Any]) -> None:
    """Split the SSE bytes at every boundary (and byte by byte): the same IR events."""
    raw = stream_bytes(case)
    reference = to_json(parse_writes(case, [raw]))
    assert_matches(reference, case["expected"])
    for cut in range(1, len(raw)):
        assert to_json(parse_writes(case, [raw[:cut], raw[cut:]])) == reference, cut
    single = [raw[k : k + 1] for k in range(len(raw))]
    assert to_json(parse_writes(case, single)) == reference


def assert_well_formed(events: list[ir.StreamEvent]) -> None:
    """Blocks are sequential: each block's deltas sit between its start and its stop."""
    open_index: int | None = None
    seen: set[int] = set()
    for event in events:
        if isinstance(event, ir.BlockStart):
            assert open_index is None and event.index not in seen
            open_index = event.index
            seen.add(event.index)
        elif isinstance(event, ir.BlockStop):
            assert event.index == open_index
            open_index = None
        elif isinstance(event, ir.MessageDelta):
            assert open_index is None
        elif hasattr(event, "index"):
            assert event.index == open_index


@pytest.mark.parametrize("case", fixtures("stream_parse"))
def test_stream_parse_events_are_well_formed(case: dict[str, Any]) -> None:
    assert_well_formed(parse_writes(case, [stream_bytes(case)]))


def render_frames(renderer: openai_chat.StreamRenderer, events: list[ir.StreamEvent]) -> list[Any]:
    raw = b"".join(renderer.feed(e) for e in events).decode()
    assert raw.endswith("\n\n")
    frames: list[Any] = []
    for frame in raw.split("\n\n")[:-1]:
        assert frame.startswith("data: ")
        payload = frame[len("data: ") :]
        frames.append(payload if payload == "[DONE]" else json.loads(payload))
    return frames


@pytest.mark.parametrize("case", fixtures("stream_render"))
def test_stream_render(case: dict[str, Any]) -> None:
    renderer = openai_chat.StreamRenderer(case["model"], include_usage=case["include_usage"])
    frames = render_frames(renderer, [event_from(e) for e in case["events"]])
    assert_matches(frames, case["expected"])
    chunks = [f for f in frames if isinstance(f, dict) and "error" not in f]
    assert len({c["id"] for c in chunks}) == 1
    for chunk in chunks:
        assert chunk["id"].startswith("chatcmpl-")
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == case["model"]
        assert isinstance(chunk["created"], int)
        assert ("usage" in chunk) is case["include_usage"]


def test_stream_render_ping_and_error_helper() -> None:
    renderer = openai_chat.StreamRenderer("m")
    assert renderer.ping() == b": ping\n\n"
    frame = openai_chat.render_stream_error(errors.RateLimited("slow down", retry_after=3))
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert json.loads(frame[6:]) == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_stream_render_without_message_delta_still_finishes() -> None:
    renderer = openai_chat.StreamRenderer("m", created=5)
    frames = render_frames(renderer, [ir.TextDelta(0, "x"), ir.MessageStop()])
    assert [f if isinstance(f, str) else f["choices"][0]["finish_reason"] for f in frames] == [
        None,
        None,
        "stop",
        "[DONE]",
    ]
    assert frames[0]["created"] == 5


def test_parse_then_render_stream_matches_non_stream() -> None:
    """Upstream chunks -> IR -> client chunks, accumulated, equal the non-stream rendering."""
    case = fixture("stream_parse", "split_choices")
    events = parse_chunks(case)
    builder = ir.ResponseBuilder()
    for event in events:
        builder.feed(event)
    whole = openai_chat.render_response(builder.response(), created=1)
    frames = render_frames(openai_chat.StreamRenderer("m", include_usage=True), events)
    text = "".join(
        f["choices"][0]["delta"].get("content") or "" for f in frames[:-1] if f["choices"]
    )
    calls: dict[int, dict[str, str]] = {}
    for frame in frames[:-1]:
        for choice in frame["choices"]:
            for call in choice["delta"].get("tool_calls", ()):
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.get("id", "")
                slot["name"] += call["function"].get("name", "")
                slot["arguments"] += call["function"]["arguments"]
    message = whole["choices"][0]["message"]
    assert text == message["content"] == "I'll read it."
    assert [calls[k] for k in sorted(calls)] == [
        {"id": c["id"], "name": c["function"]["name"], "arguments": '{"path":"a.txt"}'}
        for c in message["tool_calls"]
    ]
    assert frames[-2]["usage"] == whole["usage"]


# --------------------------------------------------------------------------- properties

_text = st.text(min_size=1, max_size=12)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_tool_input = st.dictionaries(st.text(max_size=6), _json_value, max_size=3)
_image = st.one_of(
    st.builds(ir.ImageBlock, media_type=st.sampled_from(["image/png", "image/jpeg"]), data=_text),
    st.builds(
        ir.ImageBlock,
        url=st.just("https://example.com/").map(str) | _text.map(lambda t: "https://x.test/" + t),
    ),
)
_usage = st.builds(
    ir.Usage,
    input_tokens=st.integers(0, 10**6),
    output_tokens=st.integers(0, 10**6),
    cache_read_input_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**4),
)


@st.composite
def _requests(draw: st.DrawFn) -> ir.Request:
    """IR requests within what chat completions can express (see openai_chat's docstring)."""
    messages: list[ir.Message] = []
    pending_calls: list[str] = []
    counter = 0
    for _turn in range(draw(st.integers(1, 4))):
        user: list[ir.ContentBlock] = [
            ir.ToolResultBlock(call_id, (ir.TextBlock(draw(_text)),)) for call_id in pending_calls
        ]
        if draw(st.booleans()) or not user:
            if draw(st.booleans()):
                user.append(ir.TextBlock(draw(_text)))
            else:
                parts = draw(st.lists(st.one_of(_text.map(ir.TextBlock), _image), max_size=3))
                user += [*parts, draw(_image)]
        messages.append(ir.Message("user", tuple(user)))
        assistant: list[ir.ContentBlock] = []
        if draw(st.booleans()):
            assistant.append(ir.ThinkingBlock(draw(st.text(max_size=8)), draw(_text)))
        if draw(st.booleans()):
            assistant.append(ir.TextBlock(draw(_text)))
        pending_calls = []
        for _call in range(draw(st.integers(0, 2))):
            counter += 1
            pending_calls.append(f"call_{counter}")
            assistant.append(ir.ToolUseBlock(f"call_{counter}", draw(_text), draw(_tool_input)))
        if not assistant:
            assistant.append(ir.TextBlock(draw(_text)))
        messages.append(ir.Message("assistant", tuple(assistant)))
    if draw(st.booleans()) and pending_calls:
        results = tuple(ir.ToolResultBlock(c, (ir.TextBlock("ok"),)) for c in pending_calls)
        messages.append(ir.Message("user", results))
    tool_choice = draw(
        st.none()
        | st.builds(ir.ToolChoice, st.sampled_from(["auto", "any", "none"]))
        | _text.map(lambda name: ir.ToolChoice("tool", name))
    )
    thinking = draw(
        st.none()
        | st.builds(
            ir.ThinkingConfig,
            st.just("enabled"),
            st.integers(1024, 32000) | st.none(),
            st.sampled_from(["low", "high"]),
        )
    )
    stream = draw(st.booleans())
    return ir.Request(
        model=draw(_text),
        messages=tuple(messages),
        system=tuple(draw(st.lists(_text.map(ir.TextBlock), max_size=1))),
        max_tokens=draw(st.none() | st.integers(1, 10**5)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        stop_sequences=tuple(draw(st.lists(_text, max_size=3))),
        tools=tuple(
            draw(
                st.lists(
                    st.builds(ir.Tool, _text, st.text(max_size=10), st.just({"type": "object"})),
                    max_size=2,
                )
            )
        ),
        tool_choice=tool_choice,
        parallel_tool_calls=draw(st.none() | st.booleans()),
        thinking=thinking,
        stream=stream,
        include_usage=stream,
        user=draw(st.none() | _text),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_request_round_trip(request: ir.Request) -> None:
    assert openai_chat.parse_request(openai_chat.render_request(request)) == request


@st.composite
def _responses(draw: st.DrawFn) -> ir.Response:
    """IR responses within what a chat.completion can express: unsigned thinking first, one
    text block, tool calls last; the stop reason is tool_use exactly when tools are present."""
    content: list[ir.Block] = []
    if draw(st.booleans()):
        content.append(ir.ThinkingBlock(draw(_text)))
    if draw(st.booleans()):
        content.append(ir.TextBlock(draw(_text)))
    calls = draw(st.integers(0, 3))
    content += [ir.ToolUseBlock(f"call_{k}", draw(_text), draw(_tool_input)) for k in range(calls)]
    stop: ir.StopReason = (
        "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "content_filter"]))
    )
    return ir.Response(
        id="chatcmpl-" + draw(st.text("abcdef0123456789", min_size=1, max_size=10)),
        model=draw(_text),
        content=tuple(content),
        stop_reason=stop,
        usage=draw(_usage),
    )


@settings(max_examples=150, deadline=None)
@given(_responses())
def test_response_round_trip(response: ir.Response) -> None:
    assert openai_chat.parse_response(openai_chat.render_response(response)) == response


@settings(max_examples=100, deadline=None)
@given(_responses(), st.booleans())
def test_stream_render_then_parse_round_trip(response: ir.Response, include_usage: bool) -> None:
    """Our own stream rendering, parsed back as an upstream stream, gives the same response."""
    events: list[ir.StreamEvent] = [ir.MessageStart(response.id, response.model)]
    for index, block in enumerate(response.content):
        if isinstance(block, ir.TextBlock):
            events += [ir.BlockStart(index, ir.TextBlock("")), ir.TextDelta(index, block.text)]
        elif isinstance(block, ir.ThinkingBlock):
            events += [
                ir.BlockStart(index, ir.ThinkingBlock("")),
                ir.ThinkingDelta(index, block.thinking),
            ]
        elif isinstance(block, ir.ToolUseBlock):
            arguments = json.dumps(block.input)
            events += [
                ir.BlockStart(index, ir.ToolUseBlock(block.id, block.name)),
                ir.ToolInputDelta(index, arguments[:3]),
                ir.ToolInputDelta(index, arguments[3:]),
            ]
        events.append(ir.BlockStop(index))
    events += [ir.MessageDelta(response.stop_reason, response.usage), ir.MessageStop()]
    renderer = openai_chat.StreamRenderer(response.model, include_usage=include_usage)
    raw = b"".join(renderer.feed(e) for e in events)
    decoder = SSEDecoder()
    parser = openai_chat.StreamParser(response.model)
    builder = ir.ResponseBuilder()
    for sse in decoder.feed(raw) + decoder.close():
        for event in parser.feed(sse):
            builder.feed(event)
    for event in parser.close():
        builder.feed(event)
    parsed = builder.response()
    assert parsed.content == response.content
    assert parsed.stop_reason == response.stop_reason
    if include_usage:
        assert parsed.usage == response.usage
    else:
        assert parsed.usage.output_estimated


def _fragments(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=4))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]]


@st.composite
def _upstream_streams(draw: st.DrawFn) -> tuple[ir.Response, list[dict[str, Any]]]:
    """A response, and upstream chunks that deliver it with text and parallel tool calls
    interleaved at random, argument fragments split anywhere, id and name sometimes apart,
    tool calls sometimes in choice 1 (Copilot's split choices)."""
    response = draw(_responses())
    tool_choice = draw(st.sampled_from([0, 1])) if response.stop_reason == "tool_use" else 0
    sources: list[list[tuple[int, dict[str, Any]]]] = []
    text = "".join(b.text for b in response.content if isinstance(b, ir.TextBlock))
    sources.append([(0, {"content": piece}) for piece in _fragments(draw, text)])
    tools = [b for b in response.content if isinstance(b, ir.ToolUseBlock)]
    for k, tool in enumerate(tools):
        head: list[dict[str, Any]] = [
            {"index": k, "id": tool.id, "type": "function", "function": {"name": tool.name}}
        ]
        if draw(st.booleans()):  # id and name in different chunks
            head = [{"index": k, "id": tool.id}, {"index": k, "function": {"name": tool.name}}]
        pieces = _fragments(draw, json.dumps(tool.input))
        calls = head + [{"index": k, "function": {"arguments": p}} for p in pieces]
        sources.append([(tool_choice, {"tool_calls": [call]}) for call in calls])
    labels = [n for n, source in enumerate(sources) for _ in source]
    order = draw(st.permutations(labels))
    chunks: list[dict[str, Any]] = [{"choices": [], "prompt_filter_results": []}]
    for block in response.content:
        if isinstance(block, ir.ThinkingBlock):
            for piece in _fragments(draw, block.thinking):
                delta = {"reasoning_text": piece}
                chunks.append({"id": "c", "choices": [{"index": 0, "delta": delta}]})
    positions = [0] * len(sources)
    for label in order:
        choice, delta = sources[label][positions[label]]
        positions[label] += 1
        chunks.append({"id": "c", "choices": [{"index": choice, "delta": delta}]})
    reason = "tool_calls" if tools else finish_reason_of(response)
    finishes = [{"index": c, "delta": {}, "finish_reason": reason} for c in {0, tool_choice}]
    chunks.append({"id": "c", "choices": finishes})
    chunks.append(
        {"id": "c", "choices": [], "usage": openai_chat.render_response(response)["usage"]}
    )
    return response, chunks


def finish_reason_of(response: ir.Response) -> str:
    return str(openai_chat.render_response(response)["choices"][0]["finish_reason"])


@settings(max_examples=200, deadline=None)
@given(_upstream_streams())
def test_interleaved_upstream_stream_parses_to_the_response(
    drawn: tuple[ir.Response, list[dict[str, Any]]],
) -> None:
    response, chunks = drawn
    events = parse_chunks({"model": response.model, "chunks": [*chunks, "[DONE]"]})
    assert_well_formed(events)
    builder = ir.ResponseBuilder()
    for event in events:
        builder.feed(event)
    parsed = builder.response()
    thinking = [b for b in parsed.content if isinstance(b, ir.ThinkingBlock)]
    assert thinking == [b for b in response.content if isinstance(b, ir.ThinkingBlock)]
    texts = [b.text for b in parsed.content if isinstance(b, ir.TextBlock)]
    expected_text = [b.text for b in response.content if isinstance(b, ir.TextBlock)]
    assert "".join(texts) == "".join(expected_text)
    assert all(texts)
    tools = sorted(
        ((b.id, b.name, b.input) for b in parsed.content if isinstance(b, ir.ToolUseBlock)),
        key=lambda t: t[0],
    )
    expected_tools = [
        (b.id, b.name, b.input) for b in response.content if isinstance(b, ir.ToolUseBlock)
    ]
    assert tools == sorted(expected_tools, key=lambda t: t[0])
    assert parsed.stop_reason == response.stop_reason
    assert parsed.usage == response.usage
