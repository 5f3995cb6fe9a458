"""Kiro event sequences S1-S10 (kiro.md 10.2) through the simulator, decoded into IR events."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from kiro_helpers import collect, start_kiro_for_tests, summarize, user_request

from aiclient_trio import ir
from aiclient_trio.codecs.eventstream import EventStreamDecoder
from aiclient_trio.providers.kiro.stream import KiroStreamTranslator
from aiclient_trio.providers.kiro.thinking import ThinkingTagParser
from aiclient_trio.providers.kiro.usage import estimate_text
from aiclient_trio.simulator.kiro import encode_frames

DATA = Path(__file__).parent / "data" / "kiro" / "sequences"
CASES = sorted(DATA.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_sequence(path: Path, nursery: trio.Nursery, tmp_path: Path) -> None:
    case = _load(path)
    # Sequences captured from the legacy q host end without metadataEvent; runtime ones
    # (and every current one) end metadataEvent -> contextUsageEvent -> meteringEvent.
    endpoint = case.get("endpoint", "q")
    provider, sim = await start_kiro_for_tests(nursery, tmp_path, endpoint=endpoint)
    sim.faults.scripts.append(case["frames"])
    for name, value in case["faults"].items():
        setattr(sim.faults, name, value)
    thinking = ir.ThinkingConfig(budget_tokens=2048) if case["thinking"] else None
    events = await collect(provider, user_request("go", thinking=thinking))
    seen = summarize(events)
    expect = case["expect"]
    assert seen["text"] == expect.get("text", "")
    assert seen["thinking"] == expect.get("thinking", "")
    assert seen["signature"] == expect.get("signature")
    assert seen["tools"] == expect.get("tools", [])
    if "error" in expect:
        assert type(seen["error"]).__name__ == expect["error"]
        assert expect.get("error_contains", "") in seen["error"].message
        assert not seen["finished"]
        return
    assert seen["error"] is None and seen["finished"]
    assert seen["stop_reason"] == expect["stop_reason"]
    usage: ir.Usage = seen["usage"]
    if "usage" in expect:
        assert (usage.input_tokens, usage.output_tokens) == (
            expect["usage"]["input_tokens"],
            expect["usage"]["output_tokens"],
        )
        assert not usage.input_estimated
    if "context_percent" in expect:
        # Default formula: the percentage covers input + output (AIClient's reading).
        total = round(expect["context_percent"] * 200_000 / 100)
        assert usage.input_tokens + usage.output_tokens == total
        assert usage.input_estimated
    if expect.get("usage_local"):
        assert usage.input_estimated and usage.input_tokens == events[0].usage.input_tokens  # type: ignore[union-attr]


def test_usage_formula_input_only() -> None:
    translator = KiroStreamTranslator(
        message_id="m",
        model="x",
        usage_formula="input",
        context_window=1_000_000,
        count_tokens=estimate_text,
    )
    events = translator.start()
    headers = {":message-type": "event", ":event-type": "assistantResponseEvent"}
    events += translator.feed(headers, b'{"content":"abcd"}')
    headers = {":message-type": "event", ":event-type": "contextUsageEvent"}
    events += translator.feed(headers, b'{"contextUsagePercentage": 1.5}')
    events += translator.finish()
    delta = events[-2]
    assert isinstance(delta, ir.MessageDelta)
    assert delta.usage.input_tokens == 15_000
    assert delta.usage.output_tokens == estimate_text("abcd")


def test_thinking_only_answer_gets_a_text_block_and_max_tokens() -> None:
    translator = KiroStreamTranslator(message_id="m", model="x", thinking_tags=True)
    events = translator.start()
    headers = {":message-type": "event", ":event-type": "assistantResponseEvent"}
    events += translator.feed(headers, b'{"content":"<thinking>just thinking</thinking>"}')
    events += translator.finish()
    seen = summarize(events)
    assert seen["thinking"] == "just thinking"
    assert seen["text"] == " "
    assert seen["stop_reason"] == "max_tokens"


def test_unknown_message_type_and_invalid_state_are_errors() -> None:
    translator = KiroStreamTranslator(message_id="m", model="x")
    translator.start()
    [error] = translator.feed({":message-type": "weird"}, b"")
    assert isinstance(error, ir.StreamError)
    translator = KiroStreamTranslator(message_id="m", model="x")
    translator.start()
    headers = {":message-type": "event", ":event-type": "invalidStateEvent"}
    [error] = translator.feed(headers, b'{"reason":"INVALID_TASK_ASSIST_PLAN","message":"bad"}')
    assert isinstance(error, ir.StreamError) and "bad" in error.error.message


_THINK_ALPHABET = st.sampled_from(list("ab <>/\nthinkg"))


@given(
    thinking=st.text(_THINK_ALPHABET, max_size=40).filter(lambda t: "</thinking>" not in t),
    answer=st.text(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=8),
)
def test_tag_parser_gives_the_same_split_anywhere(
    thinking: str, answer: str, cuts: list[int]
) -> None:
    stream = f"\n<thinking>\n{thinking}</thinking>\n\n{answer}"
    parser = ThinkingTagParser()
    pieces = []
    previous = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        pieces += parser.feed(stream[previous:cut])
        previous = cut
    pieces += parser.flush()
    assert "".join(p for kind, p in pieces if kind == "thinking") == thinking
    assert "".join(p for kind, p in pieces if kind == "text") == answer


def _translate(chunks: list[bytes]) -> list[ir.StreamEvent]:
    decoder = EventStreamDecoder()
    translator = KiroStreamTranslator(message_id="m", model="x", thinking_tags=True)
    events = translator.start()
    for chunk in chunks:
        for message in decoder.feed(chunk):
            events += translator.feed(message.headers, message.payload)
    decoder.close()
    return events + translator.finish()


@settings(max_examples=60)
@given(
    name=st.sampled_from([p.stem for p in CASES if "error" not in _load(p)["expect"]]),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_frames_split_anywhere_give_the_same_events(name: str, cuts: list[int]) -> None:
    case = _load(DATA / f"{name}.json")
    data = encode_frames(case["frames"])
    bounds = [0, *sorted({min(c, len(data)) for c in cuts}), len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert _translate(chunks)[1:] == _translate([data])[1:]
