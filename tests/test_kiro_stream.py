"""Kiro event sequences S1-S10 (kiro.md 10.2) through the simulator, decoded into IR events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from kiro_helpers import collect, start_kiro_for_tests, summarize, user_request

from aiclient_trio import ir
from aiclient_trio.providers.kiro.stream import KiroStreamTranslator
from aiclient_trio.providers.kiro.usage import estimate_text

DATA = Path(__file__).parent / "data" / "kiro" / "sequences"
CASES = sorted(DATA.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_sequence(path: Path, nursery: trio.Nursery, tmp_path: Path) -> None:
    case = _load(path)
    provider, sim = await start_kiro_for_tests(nursery, tmp_path)
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
