"""The Responses wire format: table-driven JSON fixtures and hypothesis round trips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_json import block_from, request_from

from aiclient_trio import errors, ir
from aiclient_trio.codecs.sse import SSEDecoder, SSEEvent
from aiclient_trio.formats import responses

DATA = Path(__file__).parent / "data" / "responses"


def _fixtures(kind: str) -> list[Any]:
    paths = sorted((DATA / kind).glob("*.json"))
    assert paths, f"no fixtures in {kind}"
    return [pytest.param(json.loads(p.read_text()), id=p.stem) for p in paths]


# --------------------------------------------------------------------------- IR <-> plain JSON


def plain(value: Any) -> Any:
    """IR as JSON-like data, leaving out fields at their default (but always `type`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.default is not dataclasses.MISSING:
                default: Any = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if f.name == "type" or item != default:
                out[f.name] = plain(item)
        return out
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, errors.GatewayError):
        out = {"error": type(value).__name__, "message": value.message, "code": value.code}
        if value.retry_after is not None:
            out["retry_after"] = value.retry_after
        return out
    return value


def plain_event(event: ir.StreamEvent) -> dict[str, Any]:
    return {"event": type(event).__name__} | plain(event)


def response_from(data: dict[str, Any]) -> ir.Response:
    return ir.Response(
        id=data["id"],
        model=data["model"],
        content=tuple(block_from(b) for b in data["content"]),
        stop_reason=data["stop_reason"],
        usage=ir.Usage(**data.get("usage", {})),
    )


def event_from(data: dict[str, Any]) -> ir.StreamEvent:
    fields = dict(data)
    cls = getattr(ir, fields.pop("event"))
    if "block" in fields:
        fields["block"] = block_from(fields["block"])
    if "usage" in fields:
        fields["usage"] = ir.Usage(**fields["usage"])
    if cls is ir.StreamError:
        spec = fields["error"]
        fields["error"] = getattr(errors, spec["error"])(spec["message"], code=spec.get("code"))
    if cls is ir.MessageDelta:
        fields.setdefault("usage", ir.Usage())
    result: ir.StreamEvent = cls(**fields)
    return result


def assert_subset(expected: Any, actual: Any, path: str = "$") -> None:
    """Every key in `expected` is in `actual` with the same value (lists: same length)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{path}[{n}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def parse_stream(data: bytes, model: str = "", input_estimate: int = 0) -> list[ir.StreamEvent]:
    decoder, parser = SSEDecoder(), responses.StreamParser(model, input_estimate)
    out: list[ir.StreamEvent] = []
    for sse in decoder.feed(data) + decoder.close():
        out += parser.feed(sse)
    return out + parser.close()


def rendered_events(data: bytes) -> list[dict[str, Any]]:
    """Decode rendered SSE bytes; the `event:` name must match the data's type."""
    # Clients that split lines with str.splitlines (httpx aiter_lines) see the same frames.
    for line in data.decode().splitlines():
        assert line == "" or line.startswith(("event: ", "data: ", ": ")), line
    decoder = SSEDecoder()
    out = []
    for sse in decoder.feed(data) + decoder.close():
        body = json.loads(sse.data)
        assert sse.event == body["type"]
        out.append(body)
    return out


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("case", _fixtures("parse_request"))
def test_parse_request(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(errors.InvalidRequest) as caught:
            responses.parse_request(case["body"])
        error = caught.value
        assert (error.status, error.param, error.message) == (
            case["error"]["status"],
            case["error"]["param"],
            case["error"]["message"],
        )
        return
    assert plain(responses.parse_request(case["body"])) == case["expect"]


@pytest.mark.parametrize("case", _fixtures("render_request"))
def test_render_request(case: dict[str, Any]) -> None:
    body = responses.render_request(request_from(case["request"]))
    assert body == case["expect"]
    # What we send upstream is itself a valid Responses request for our own parser.
    responses.parse_request(body)


@pytest.mark.parametrize("case", _fixtures("parse_response"))
def test_parse_response(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(errors.GatewayError) as caught:
            responses.parse_response(case["body"])
        assert plain(caught.value) == case["error"]
        return
    assert plain(responses.parse_response(case["body"])) == case["expect"]


@pytest.mark.parametrize("case", _fixtures("render_response"))
def test_render_response(case: dict[str, Any]) -> None:
    body = responses.render_response(
        response_from(case["response"]),
        custom_tools=frozenset(case.get("custom_tools", ())),
        tool_namespaces=case.get("tool_namespaces"),
        created_at=1700000000,
    )
    assert_subset(case["expect"], body)


@pytest.mark.parametrize("case", _fixtures("stream_parse"))
def test_stream_parse(case: dict[str, Any]) -> None:
    events = parse_stream(
        sse_bytes(case["events"]), case.get("model", ""), case.get("input_estimate", 0)
    )
    assert [plain_event(e) for e in events] == case["expect"]


def _parse_pieces(pieces: list[bytes], case: dict[str, Any]) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    parser = responses.StreamParser(case.get("model", ""), case.get("input_estimate", 0))
    events: list[ir.StreamEvent] = []
    for piece in pieces:
        for sse in decoder.feed(piece):
            events += parser.feed(sse)
    for sse in decoder.close():
        events += parser.feed(sse)
    return [plain_event(e) for e in events + parser.close()]


@pytest.mark.parametrize("case", _fixtures("stream_parse"))
def test_stream_fixture_split_at_every_byte(case: dict[str, Any]) -> None:
    data = sse_bytes(case["events"])
    assert len(SSEDecoder().feed(data)) == len(case["events"])
    for cut in range(1, len(data)):
        assert _parse_pieces([data[:cut], data[cut:]], case) == case["expect"]
    one_by_one = [data[n : n + 1] for n in range(len(data))]
    assert _parse_pieces(one_by_one, case) == case["expect"]


@pytest.mark.parametrize("case", _fixtures("stream_render"))
def test_stream_render(case: dict[str, Any]) -> None:
    renderer = responses.StreamRenderer(
        model=case["model"], custom_tools=frozenset(case.get("custom_tools", ())), created_at=1
    )
    data = b"".join(renderer.feed(event_from(e)) for e in case["events"])
    events = rendered_events(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == case["expect_types"]
    for n, expected in case.get("expect_events", {}).items():
        assert_subset(expected, events[int(n)])


def test_previous_response_id_is_a_400_and_store_is_only_noted() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        responses.parse_request({"model": "m", "input": "x", "previous_response_id": "resp_1"})
    assert caught.value.status == 400
    assert errors.responses_error_object(caught.value)["code"] == "invalid_request"
    kept = responses.parse_request({"model": "m", "input": "x", "store": True}).leftovers
    assert kept is not None and kept.fields["store"]


def test_codex_request_options_reach_the_stream_renderer() -> None:
    """Custom and namespaced tools from a Codex request come back in Codex's shapes."""
    case = json.loads((DATA / "parse_request" / "codex_trimmed.json").read_text())
    request = responses.parse_request(case["body"])
    renderer = responses.StreamRenderer(
        model="gpt-5.5",
        custom_tools=request.custom_tools,
        tool_namespaces=request.tool_namespaces,
    )
    events: list[ir.StreamEvent] = [
        ir.MessageStart("r1", "gpt-5.5"),
        ir.BlockStart(0, ir.ToolUseBlock("call_9", "spawn_agent")),
        ir.ToolInputDelta(0, '{"task": "tests"}'),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.ToolUseBlock("call_10", "apply_patch")),
        ir.ToolInputDelta(1, '{"input": "*** Begin Patch\\n"}'),
        ir.BlockStop(1),
        ir.MessageDelta("tool_use", ir.Usage()),
        ir.MessageStop(),
    ]
    rendered = rendered_events(b"".join(renderer.feed(e) for e in events))
    done = [e["item"] for e in rendered if e["type"] == "response.output_item.done"]
    assert done[0] == {
        "id": "fc_r1_0",
        "call_id": "call_9",
        "name": "spawn_agent",
        "type": "function_call",
        "arguments": '{"task": "tests"}',
        "namespace": "multi_agent_v1",
        "status": "completed",
    }
    assert (done[1]["type"], done[1]["input"]) == ("custom_tool_call", "*** Begin Patch\n")
    assert rendered[-1]["response"]["output"] == done


def test_render_stream_error_is_a_failed_event() -> None:
    data = responses.render_stream_error(errors.RateLimited("slow down"), sequence_number=7)
    [event] = rendered_events(data)
    assert event["type"] == "response.failed"
    assert event["sequence_number"] == 7
    assert event["response"]["status"] == "failed"
    assert event["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}


def test_renderer_ping_is_a_comment_and_events_after_the_end_are_ignored() -> None:
    renderer = responses.StreamRenderer(model="m")
    assert renderer.ping().startswith(b":")
    assert SSEDecoder().feed(renderer.ping()) == []
    assert renderer.feed(ir.MessageStop())
    assert renderer.feed(ir.BlockStart(0, ir.TextBlock(""))) == b""


def test_parser_ignores_done_marker_and_reports_bad_json() -> None:
    parser = responses.StreamParser("m")
    assert parser.feed(SSEEvent("[DONE]")) == []
    [event] = parser.feed(SSEEvent("{not json", "response.created"))
    assert isinstance(event, ir.StreamError)
    assert isinstance(event.error, errors.UpstreamError)
    assert parser.close() == []


# --------------------------------------------------------------------------- properties

_text = st.text(max_size=12)
_nonempty = st.text(min_size=1, max_size=12)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n != "apply_patch")
_call_ids = st.from_regex(r"(call|toolu)_[A-Za-z0-9]{1,8}", fullmatch=True)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_tool_inputs = st.dictionaries(_text, _json, max_size=3)
_images = st.one_of(
    st.builds(
        ir.ImageBlock,
        media_type=st.sampled_from(["image/png", "image/jpeg"]),
        data=st.from_regex(r"[A-Za-z0-9+/]{4,12}", fullmatch=True),
    ),
    st.builds(ir.ImageBlock, url=_names.map(lambda n: f"https://example.com/{n}.png")),
)
_tool_results = st.builds(
    ir.ToolResultBlock,
    tool_use_id=_call_ids,
    content=st.one_of(
        _nonempty.map(lambda t: (ir.TextBlock(t),)),
        st.tuples(_nonempty.map(ir.TextBlock), _images),
        _images.map(lambda i: (i,)),
    ),
)
_user_blocks = st.one_of(_nonempty.map(ir.TextBlock), _images, _tool_results)
_tool_uses = st.builds(ir.ToolUseBlock, id=_call_ids, name=_names, input=_tool_inputs)
_signed_thinking = st.builds(ir.ThinkingBlock, thinking=_text, signature=_nonempty)
_assistant_blocks = st.one_of(_nonempty.map(ir.TextBlock), _tool_uses, _signed_thinking)


@st.composite
def _conversations(draw: st.DrawFn) -> tuple[ir.Message, ...]:
    messages = []
    for n in range(draw(st.integers(1, 4))):
        role = "user" if n % 2 == 0 else "assistant"
        blocks = _user_blocks if role == "user" else _assistant_blocks
        messages.append(ir.Message(role, tuple(draw(st.lists(blocks, min_size=1, max_size=3)))))
    return tuple(messages)


_tools = st.builds(
    ir.Tool,
    name=_names,
    description=_text,
    input_schema=st.dictionaries(_names, st.just({"type": "string"}), max_size=2).map(
        lambda props: {"type": "object", "properties": props}
    ),
)
_requests = st.builds(
    ir.Request,
    model=_names,
    messages=_conversations(),
    system=st.one_of(st.just(()), _nonempty.map(lambda t: (ir.TextBlock(t),))),
    max_tokens=st.none() | st.integers(1, 10**6),
    temperature=st.none() | st.floats(0, 2),
    top_p=st.none() | st.floats(0, 1),
    tools=st.lists(_tools, max_size=3, unique_by=lambda t: t.name).map(tuple),
    tool_choice=st.none()
    | st.builds(ir.ToolChoice, type=st.sampled_from(["auto", "any", "none"]))
    | _names.map(lambda n: ir.ToolChoice("tool", n)),
    parallel_tool_calls=st.none() | st.booleans(),
    thinking=st.none()
    | st.sampled_from(["low", "medium", "high"]).map(lambda e: ir.ThinkingConfig(effort=e)),
    stream=st.booleans(),
    user=st.none() | _text,
)


@settings(max_examples=150, deadline=None)
@given(_requests)
def test_request_survives_render_then_parse(request: ir.Request) -> None:
    parsed = responses.parse_request(responses.render_request(request))
    # What the renderer adds of its own (store, reasoning.summary) is not the IR's.
    assert dataclasses.replace(parsed, leftovers=None, reasoning_summary=None) == request


CUSTOM = frozenset({"apply_patch"})
_custom_uses = st.builds(
    ir.ToolUseBlock,
    id=_call_ids,
    name=st.just("apply_patch"),
    input=_text.map(lambda t: {"input": t}),
)
_response_blocks = st.one_of(
    _text.map(ir.TextBlock),
    _tool_uses,
    _custom_uses,
    _signed_thinking,
    _nonempty.map(ir.ThinkingBlock),
)
_usages = st.builds(
    ir.Usage,
    input_tokens=st.integers(0, 10**6),
    output_tokens=st.integers(0, 10**5),
    cache_read_input_tokens=st.integers(0, 10**6),
    cache_creation_input_tokens=st.integers(0, 10**4),
    reasoning_tokens=st.integers(0, 10**4),
)


@st.composite
def _responses(draw: st.DrawFn) -> ir.Response:
    content = tuple(draw(st.lists(_response_blocks, max_size=4)))
    stop: ir.StopReason = draw(st.sampled_from(["end_turn", "max_tokens", "content_filter"]))
    if stop == "end_turn" and any(isinstance(b, ir.ToolUseBlock) for b in content):
        stop = "tool_use"
    return ir.Response(
        id=draw(_names.map(lambda n: f"resp_{n}")),
        model=draw(_names),
        content=content,
        stop_reason=stop,
        usage=draw(_usages),
    )


@settings(max_examples=150, deadline=None)
@given(_responses())
def test_response_survives_render_then_parse(response: ir.Response) -> None:
    body = responses.render_response(response, custom_tools=CUSTOM)
    assert responses.parse_response(json.loads(json.dumps(body))) == response


def _chunks(text: str, size: int) -> list[str]:
    return [text[n : n + size] for n in range(0, len(text), size)] or [""]


def _stream_events(response: ir.Response, size: int) -> list[ir.StreamEvent]:
    events: list[ir.StreamEvent] = [ir.MessageStart(response.id, response.model)]
    for index, block in enumerate(response.content):
        if isinstance(block, ir.TextBlock):
            events.append(ir.BlockStart(index, ir.TextBlock("")))
            events += [ir.TextDelta(index, c) for c in _chunks(block.text, size)]
        elif isinstance(block, ir.ThinkingBlock):
            events.append(ir.BlockStart(index, ir.ThinkingBlock("")))
            events += [ir.ThinkingDelta(index, c) for c in _chunks(block.thinking, size)]
            if block.signature:
                events.append(ir.SignatureDelta(index, block.signature))
        elif isinstance(block, ir.ToolUseBlock):
            events.append(ir.BlockStart(index, ir.ToolUseBlock(block.id, block.name)))
            arguments = json.dumps(block.input)
            events += [ir.ToolInputDelta(index, c) for c in _chunks(arguments, size)]
        events.append(ir.BlockStop(index))
    return [*events, ir.MessageDelta(response.stop_reason, response.usage), ir.MessageStop()]


@settings(max_examples=150, deadline=None)
@given(_responses(), st.integers(1, 6))
def test_rendered_stream_parses_back_to_the_same_response(response: ir.Response, size: int) -> None:
    renderer = responses.StreamRenderer(model=response.model, custom_tools=CUSTOM)
    data = b"".join(renderer.feed(e) for e in _stream_events(response, size))
    numbers = [e["sequence_number"] for e in rendered_events(data)]
    assert numbers == list(range(len(numbers)))
    builder = ir.ResponseBuilder()
    for event in parse_stream(data, model=response.model):
        builder.feed(event)
    assert builder.response() == response


_failures = st.sampled_from(
    [
        (errors.ContextLengthExceeded, errors.ContextLengthExceeded),
        (errors.QuotaExceeded, errors.QuotaExceeded),
        (errors.RateLimited, errors.RateLimited),
        (errors.Overloaded, errors.UpstreamError),
        (errors.UpstreamTimeout, errors.UpstreamError),
        (errors.InvalidRequest, errors.UpstreamError),
    ]
)


@settings(max_examples=100, deadline=None)
@given(_responses(), st.data(), _failures, _nonempty)
def test_failed_stream_keeps_order_and_maps_the_error_back(
    response: ir.Response, data: st.DataObject, failure: tuple[type, type], message: str
) -> None:
    raised, expected = failure
    events = _stream_events(response, 4)[:-2]  # no MessageDelta / MessageStop
    events = events[: data.draw(st.integers(0, len(events)))]
    renderer = responses.StreamRenderer(model=response.model, custom_tools=CUSTOM)
    rendered = b"".join(renderer.feed(e) for e in [*events, ir.StreamError(raised(message))])
    decoded = rendered_events(rendered)
    assert [e["sequence_number"] for e in decoded] == list(range(len(decoded)))
    assert decoded[0]["type"] == "response.created"
    assert decoded[-1]["type"] == "response.failed"
    assert decoded[-1]["response"]["error"]["message"] == message
    [*_, last] = parse_stream(rendered, model=response.model)
    assert isinstance(last, ir.StreamError)
    assert type(last.error) is expected
    assert last.error.message == message


_item_keys = st.sampled_from(
    [
        "type",
        "role",
        "content",
        "call_id",
        "name",
        "arguments",
        "output",
        "summary",
        "encrypted_content",
        "input",
        "tools",
        "image_url",
        "text",
        "file_id",
        "format",
    ]
)
_item_types = st.sampled_from(
    [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "custom_tool_call",
        "custom_tool_call_output",
        "additional_tools",
        "input_text",
        "input_image",
        "namespace",
        "function",
        "custom",
        "web_search",
        "user",
        "developer",
        "assistant",
        "grammar",
    ]
)
_fuzz_values = st.recursive(
    _json | _item_types,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_item_keys, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "model",
                "input",
                "instructions",
                "tools",
                "tool_choice",
                "reasoning",
                "max_output_tokens",
                "temperature",
                "parallel_tool_calls",
                "stream",
            ]
        ),
        _fuzz_values,
    )
)
def test_any_body_parses_or_is_a_clear_400(body: dict[str, Any]) -> None:
    try:
        responses.parse_request(body)
    except errors.InvalidRequest as error:
        assert error.status == 400
