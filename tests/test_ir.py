"""The IR helpers: usage arithmetic, tool-argument parsing, stream aggregation."""

import pytest

from aiclient_trio import ir
from aiclient_trio.errors import UpstreamError


def test_openai_usage_subtracts_cached_and_never_goes_negative() -> None:
    usage = ir.Usage.from_openai(prompt_tokens=12, completion_tokens=3, cached_tokens=8)
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (4, 8, 3)
    assert usage.prompt_tokens == 12
    assert (
        ir.Usage.from_openai(prompt_tokens=2, completion_tokens=0, cached_tokens=5).input_tokens
        == 0
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", {}), ("  ", {}), ("{not json", {}), ('{"a": 1}', {"a": 1}), ("[1]", {"value": [1]})],
)
def test_tool_arguments_never_crash(raw: str, expected: dict[str, object]) -> None:
    assert ir.parse_tool_arguments(raw) == expected


def test_builder_aggregates_blocks_in_order() -> None:
    builder = ir.ResponseBuilder()
    events: list[ir.StreamEvent] = [
        ir.MessageStart("msg_1", "m"),
        ir.BlockStart(0, ir.ThinkingBlock("")),
        ir.ThinkingDelta(0, "hm"),
        ir.SignatureDelta(0, "sig"),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.TextBlock("")),
        ir.TextDelta(1, "Hel"),
        ir.TextDelta(1, "lo"),
        ir.BlockStop(1),
        ir.BlockStart(2, ir.ToolUseBlock("call_1", "Read")),
        ir.ToolInputDelta(2, '{"pa'),
        ir.ToolInputDelta(2, 'th":"a"}'),
        ir.BlockStop(2),
        ir.MessageDelta("tool_use", ir.Usage(input_tokens=5, output_tokens=7)),
        ir.MessageStop(),
    ]
    for event in events:
        builder.feed(event)
    response = builder.response()
    assert response.content == (
        ir.ThinkingBlock("hm", "sig"),
        ir.TextBlock("Hello"),
        ir.ToolUseBlock("call_1", "Read", {"path": "a"}),
    )
    assert response.stop_reason == "tool_use"
    assert response.usage.output_tokens == 7


def test_builder_refuses_a_truncated_stream() -> None:
    builder = ir.ResponseBuilder()
    builder.feed(ir.MessageStart("msg_1", "m"))
    builder.feed(ir.BlockStart(0, ir.TextBlock("")))
    with pytest.raises(UpstreamError):
        builder.response()
