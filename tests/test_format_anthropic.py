"""The Anthropic Messages format: fixture tables for every mapping, plus property tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_json import block_from, request_from

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import SSEDecoder, SSEEvent
from aiclient_trio.formats import anthropic

DATA = Path(__file__).parent / "data" / "anthropic"


def _fixtures(folder: str) -> list[Any]:
    paths = sorted((DATA / folder).glob("*.json"))
    assert paths, folder
    return [pytest.param(json.loads(p.read_text()), id=p.stem) for p in paths]


# --------------------------------------------------------------------------- IR from plain JSON


def response(plain: dict[str, Any]) -> ir.Response:
    return ir.Response(
        id=plain["id"],
        model=plain["model"],
        content=tuple(block_from(b) for b in plain["content"]),
        stop_reason=plain["stop_reason"],
        usage=ir.Usage(**plain["usage"]),
        stop_sequence=plain.get("stop_sequence"),
    )


def event(plain: dict[str, Any]) -> ir.StreamEvent:
    fields = {k: v for k, v in plain.items() if k != "kind"}
    kind = plain["kind"]
    if "usage" in fields:
        fields["usage"] = ir.Usage(**fields["usage"])
    if "block" in fields:
        fields["block"] = block_from(fields["block"])
    if kind == "StreamError":
        return ir.StreamError(getattr(errors, fields["error"])(fields["message"]))
    return getattr(ir, kind)(**fields)


def comparable(events: list[ir.StreamEvent]) -> list[object]:
    """Errors compare by class and message (exceptions compare by identity)."""
    return [
        (type(e.error).__name__, e.error.message) if isinstance(e, ir.StreamError) else e
        for e in events
    ]


def frames(data: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    decoded = decoder.feed(data) + decoder.close()
    return [{"event": e.event, "data": json.loads(e.data)} for e in decoded]


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("case", _fixtures("parse_request"))
def test_parse_request(case: dict[str, Any]) -> None:
    assert anthropic.parse_request(case["body"]) == request_from(case["expected"])


def _error_cases() -> list[Any]:
    cases = json.loads((DATA / "parse_request_errors.json").read_text())
    return [pytest.param(c, id=c["param"]) for c in cases]


@pytest.mark.parametrize("case", _error_cases())
def test_parse_request_names_the_bad_field(case: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        anthropic.parse_request(case["body"])
    assert caught.value.message == case["message"]
    assert caught.value.param == case["param"]
    assert caught.value.status == 400


@pytest.mark.parametrize("case", _fixtures("render_request"))
def test_render_request(case: dict[str, Any]) -> None:
    assert anthropic.render_request(anthropic.parse_request(case["body"])) == case["expected"]


@pytest.mark.parametrize(
    ("effort", "max_tokens", "expected"),
    [
        ("high", 32000, {"type": "enabled", "budget_tokens": 16384}),
        (None, 32000, {"type": "enabled", "budget_tokens": 4096}),
        ("medium", 5000, {"type": "enabled", "budget_tokens": 4999}),
        ("low", 1024, None),  # no room for the 1024-token minimum: do not think
    ],
)
def test_render_request_budget_for_translated_reasoning(
    effort: str | None, max_tokens: int, expected: dict[str, Any] | None
) -> None:
    req = ir.Request(
        model="m",
        messages=(ir.Message("user", (ir.TextBlock("q"),)),),
        max_tokens=max_tokens,
        thinking=ir.ThinkingConfig(type="enabled", effort=effort),
    )
    body = anthropic.render_request(req)
    assert body.get("thinking") == expected
    assert body.get("output_config") == ({"effort": effort} if effort else None)


def test_render_request_tool_choice_needs_tools_and_default_max_tokens() -> None:
    req = ir.Request(
        model="m",
        messages=(ir.Message("user", (ir.TextBlock("q"),)),),
        tool_choice=ir.ToolChoice("any"),
        parallel_tool_calls=False,
    )
    body = anthropic.render_request(req, default_max_tokens=100)
    assert body == {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
    }


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("case", _fixtures("responses"))
def test_parse_and_render_response(case: dict[str, Any]) -> None:
    parsed = anthropic.parse_response(case["body"])
    assert parsed == response(case["expected"])
    assert anthropic.render_response(parsed) == case.get("rendered", case["body"])


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            errors.Overloaded,
            "busy",
        ),
        (
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
            errors.UpstreamError,
            "bad",
        ),
        ([], errors.UpstreamError, "upstream answered with a list, not a message"),
        ({"id": "x"}, errors.UpstreamError, "upstream message has no content array"),
    ],
)
def test_parse_response_errors(body: Any, error: type[errors.GatewayError], message: str) -> None:
    with pytest.raises(error) as caught:
        anthropic.parse_response(body)
    assert type(caught.value) is error
    assert caught.value.message == message


def test_count_tokens_response() -> None:
    assert anthropic.count_tokens_response(42) == {"input_tokens": 42}


# --------------------------------------------------------------------------- stream render


def _check_frames(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    for got, want in zip(actual, expected, strict=False):
        message = want["data"].get("message")
        if message is not None and message.get("id") == "*":
            assert got["data"]["message"]["id"].startswith("msg_")
            got["data"]["message"]["id"] = "*"
    assert actual == expected


@pytest.mark.parametrize("case", _fixtures("stream_render"))
def test_stream_render(case: dict[str, Any]) -> None:
    renderer = anthropic.StreamRenderer(model=case["model"])
    chunks = [renderer.feed(event(e)) for e in case["events"]]
    data = b"".join(chunks)
    # Every frame is "event: <type>" + "data: <json>" + blank line, with matching names.
    for raw in data.split(b"\n\n")[:-1]:
        name, payload = raw.split(b"\n")
        assert name.startswith(b"event: ") and payload.startswith(b"data: ")
        assert json.loads(payload[6:])["type"] == name[7:].decode()
    assert data.endswith(b"\n\n")
    _check_frames(frames(data), case["expected"])


def test_ping_and_error_frames() -> None:
    renderer = anthropic.StreamRenderer(model="m")
    assert renderer.ping() == b'event: ping\ndata: {"type":"ping"}\n\n'
    frame = anthropic.render_stream_error(errors.RateLimited("slow"))
    assert frame == (
        b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error",'
        b'"message":"slow"}}\n\n'
    )


# --------------------------------------------------------------------------- stream parse


def _sse_bytes(case: dict[str, Any]) -> bytes:
    return ("\r\n" if case.get("crlf") else "\n").join(case["sse"]).encode()


def _parse(case: dict[str, Any], pieces: list[bytes]) -> list[ir.StreamEvent]:
    parser = anthropic.StreamParser(
        model=case["model"], input_estimate=case.get("input_estimate", 0)
    )
    decoder = SSEDecoder()
    out: list[ir.StreamEvent] = []
    for piece in pieces:
        for sse in decoder.feed(piece):
            out.extend(parser.feed(sse))
    for sse in decoder.close():
        out.extend(parser.feed(sse))
    out.extend(parser.close())
    return out


@pytest.mark.parametrize("case", _fixtures("stream_parse"))
def test_stream_parse(case: dict[str, Any]) -> None:
    expected = comparable([event(e) for e in case["expected"]])
    assert comparable(_parse(case, [_sse_bytes(case)])) == expected


@pytest.mark.parametrize("case", _fixtures("stream_parse"))
def test_stream_parse_split_at_every_byte(case: dict[str, Any]) -> None:
    data = _sse_bytes(case)
    expected = comparable(_parse(case, [data]))
    for cut in range(1, len(data)):
        assert comparable(_parse(case, [data[:cut], data[cut:]])) == expected, cut
    assert comparable(_parse(case, [data[i : i + 1] for i in range(len(data))])) == expected


@pytest.mark.parametrize("case", _fixtures("stream_parse"))
def test_stream_parse_then_render_gives_the_same_client_events(case: dict[str, Any]) -> None:
    """Upstream Anthropic -> IR -> client Anthropic keeps every client-visible event."""
    data = _sse_bytes(case)
    first = anthropic.StreamRenderer(model=case["model"])
    rendered = b"".join(first.feed(e) for e in _parse(case, [data]))
    for cut in range(1, len(data)):
        renderer = anthropic.StreamRenderer(model=case["model"])
        again = b"".join(renderer.feed(e) for e in _parse(case, [data[:cut], data[cut:]]))
        assert frames(again) == frames(rendered), cut


def test_parser_ignores_events_after_the_end() -> None:
    parser = anthropic.StreamParser(model="m")
    assert parser.feed(SSEEvent('{"type":"message_stop"}', "message_stop")) == [ir.MessageStop()]
    assert parser.feed(SSEEvent('{"type":"message_stop"}', "message_stop")) == []
    assert parser.close() == []


# --------------------------------------------------------------------------- properties

# Anthropic rejects blank text blocks, so the renderer drops them: generate visible text.
_text = st.text(min_size=1, max_size=20).filter(str.strip)
_ident = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
_json_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_json_obj = st.dictionaries(_ident, _json_scalar, max_size=3)
_cache = st.none() | st.just({"type": "ephemeral"})
_text_block = st.builds(ir.TextBlock, _text, _cache)
_image = st.builds(ir.ImageBlock, media_type=st.just("image/png"), data=_ident) | st.builds(
    ir.ImageBlock, url=_ident.map(lambda s: f"https://x.test/{s}.png")
)
_tool_result = st.builds(
    ir.ToolResultBlock,
    tool_use_id=_ident,
    content=st.lists(_text_block | _image, max_size=3).map(tuple),
    is_error=st.booleans(),
)
_thinking = st.builds(ir.ThinkingBlock, st.text(max_size=20), _ident)
_redacted = st.builds(ir.RedactedThinkingBlock, _ident)
_tool_use = st.builds(ir.ToolUseBlock, _ident, _ident, _json_obj)


@st.composite
def _messages(draw: st.DrawFn) -> tuple[ir.Message, ...]:
    out: list[ir.Message] = []
    for i in range(draw(st.integers(1, 5))):
        if i % 2 == 0:
            results = draw(st.lists(_tool_result, max_size=2))
            rest = draw(st.lists(_text_block | _image, min_size=0 if results else 1, max_size=3))
            out.append(ir.Message("user", tuple(results + rest)))
        else:
            blocks = draw(
                st.lists(_text_block | _thinking | _redacted | _tool_use, min_size=1, max_size=4)
            )
            out.append(ir.Message("assistant", tuple(blocks)))
    return tuple(out)


@st.composite
def _requests(draw: st.DrawFn) -> ir.Request:
    max_tokens = draw(st.integers(1, 100_000))
    tools = tuple(
        draw(st.lists(st.builds(ir.Tool, _ident, st.text(max_size=10), _json_obj), max_size=2))
    )
    choice = parallel = None
    if tools and draw(st.booleans()):
        kind = draw(st.sampled_from(["auto", "any", "none", "tool"]))
        choice = ir.ToolChoice(kind, draw(_ident) if kind == "tool" else None)
        parallel = draw(st.sampled_from([None, False])) if kind != "none" else None
    forced = choice is not None and choice.type in ("any", "tool")
    # Anthropic refuses thinking with a forced tool: the renderer turns it off.
    thinking = draw(
        st.sampled_from([None, "disabled"] if forced else [None, "enabled", "adaptive", "disabled"])
    )
    effort = draw(st.sampled_from([None, "low", "high"]))
    config = None
    if thinking == "enabled" and max_tokens > 1024:
        config = ir.ThinkingConfig("enabled", draw(st.integers(1024, max_tokens - 1)), effort)
    elif thinking in ("adaptive", "disabled"):
        config = ir.ThinkingConfig(thinking, None, effort)
    finite = st.floats(0, 2, allow_nan=False)
    thinks = config is not None and config.type != "disabled"
    # With thinking on, Anthropic takes only temperature 1, top_p >= 0.95 and no top_k.
    temperature = st.sampled_from([None, 1.0]) if thinks else st.none() | finite
    top_p = st.none() | st.floats(0.95, 1) if thinks else st.none() | finite
    top_k = st.none() if thinks else st.none() | st.integers(0, 500)
    return ir.Request(
        model=draw(_ident),
        messages=draw(_messages()),
        system=tuple(draw(st.lists(_text_block, max_size=2))),
        max_tokens=max_tokens,
        temperature=draw(temperature),
        top_p=draw(top_p),
        top_k=draw(top_k),
        stop_sequences=tuple(draw(st.lists(_text, max_size=2))),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        thinking=config,
        stream=draw(st.booleans()),
        user=draw(st.none() | _text),
    )


@settings(max_examples=150, deadline=None)
@given(_requests())
def test_property_request_survives_render_then_parse(req: ir.Request) -> None:
    body = json.loads(json.dumps(anthropic.render_request(req)))
    assert anthropic.parse_request(body) == req


_usage = st.builds(
    ir.Usage,
    input_tokens=st.integers(0, 10**6),
    output_tokens=st.integers(0, 10**6),
    cache_read_input_tokens=st.integers(0, 10**6),
    cache_creation_input_tokens=st.integers(0, 10**6),
)
_stop = st.sampled_from([None, "end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal"])
_output_block = (
    st.builds(ir.TextBlock, st.text(max_size=20))
    | st.builds(ir.ThinkingBlock, st.text(max_size=20), st.none() | _ident)
    | _redacted
    | _tool_use
)


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        ir.Response,
        id=_ident,
        model=_ident,
        content=st.lists(_output_block, max_size=4).map(tuple),
        stop_reason=_stop,
        usage=_usage,
        stop_sequence=st.none() | _text,
    )
)
def test_property_response_survives_render_then_parse(resp: ir.Response) -> None:
    body = json.loads(json.dumps(anthropic.render_response(resp)))
    assert anthropic.parse_response(body) == resp


@st.composite
def _block_events(draw: st.DrawFn, index: int) -> list[ir.StreamEvent]:
    kind = draw(st.sampled_from(["text", "thinking", "redacted", "tool"]))
    pieces = draw(st.lists(_text, max_size=3))
    events: list[ir.StreamEvent]
    if kind == "text":
        events = [ir.BlockStart(index, ir.TextBlock(""))]
        events += [ir.TextDelta(index, p) for p in pieces]
    elif kind == "thinking":
        events = [ir.BlockStart(index, ir.ThinkingBlock(""))]
        events += [ir.ThinkingDelta(index, p) for p in pieces]
        events += [ir.SignatureDelta(index, s) for s in draw(st.lists(_ident, max_size=1))]
    elif kind == "redacted":
        events = [ir.BlockStart(index, ir.RedactedThinkingBlock(draw(_ident)))]
    else:
        events = [ir.BlockStart(index, ir.ToolUseBlock(draw(_ident), draw(_ident)))]
        events += [ir.ToolInputDelta(index, p) for p in pieces]
    return [*events, ir.BlockStop(index)]


@st.composite
def _streams(draw: st.DrawFn) -> tuple[list[ir.StreamEvent], list[ir.StreamEvent]]:
    """An IR stream with sparse block indexes, and the same stream with dense indexes."""
    start_usage = draw(_usage)
    events: list[ir.StreamEvent] = [ir.MessageStart(draw(_ident), "client-model", start_usage)]
    dense: list[ir.StreamEvent] = list(events)
    indexes = sorted(draw(st.sets(st.integers(0, 50), max_size=4)))
    for position, index in enumerate(indexes):
        block_events = draw(_block_events(index))
        events += block_events
        dense += [_reindex(e, position) for e in block_events]
    ending: list[ir.StreamEvent]
    error = draw(
        st.sampled_from([None, errors.Overloaded, errors.RateLimited, errors.UpstreamError])
    )
    if error is None:
        delta_usage = draw(_usage.filter(lambda u: u.prompt_tokens > 0))
        ending = [
            ir.MessageDelta(draw(_stop), delta_usage, draw(st.none() | _text)),
            ir.MessageStop(),
        ]
    else:
        ending = [ir.StreamError(error(draw(_text)))]
    return events + ending, dense + ending


def _reindex(e: ir.StreamEvent, index: int) -> ir.StreamEvent:
    from dataclasses import replace

    return replace(e, index=index)


@settings(max_examples=150, deadline=None)
@given(_streams(), st.lists(st.integers(1, 40), max_size=30))
def test_property_stream_render_then_parse(
    streams: tuple[list[ir.StreamEvent], list[ir.StreamEvent]], cuts: list[int]
) -> None:
    events, dense = streams
    renderer = anthropic.StreamRenderer(model="client-model")
    data = b"".join(renderer.feed(e) for e in events)
    pieces, rest = [], data
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    parsed = _parse({"model": "client-model"}, pieces)
    assert comparable(parsed) == comparable(dense)
