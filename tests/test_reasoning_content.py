"""Chat answers carry the model's reasoning as `reasoning_content` from every provider (what
the Vercel AI SDK and other OpenAI-compatible clients read), streamed and whole; Copilot's own
`reasoning_text` / `reasoning_opaque` stay beside it. `[[think]]` needs no reasoning_effort.

Through the official openai SDK against the gateway with the real Copilot and Kiro providers,
each talking to its simulator over loopback sockets.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import trio
from copilot_helpers import start_copilot_for_tests
from fakes import make_gateway, serve, sse_events
from hypothesis import given, settings
from hypothesis import strategies as st
from kiro_helpers import start_kiro_for_tests

from aiclient_trio import ir
from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.formats.openai_chat_stream import StreamRenderer
from aiclient_trio.providers.copilot.bodies import reasoning_content_events
from aiclient_trio.server.app import create_app

THOUGHT = "pondering deeply"
ASK = [{"role": "user", "content": f"[[think {THOUGHT}]] hi"}]
# Copilot chat models relay Copilot's bytes (passthrough); codex speaks only Responses and is
# translated; Kiro is translated from its event stream.
PASSTHROUGH = ["copilot/gpt-4o", "copilot/claude-sonnet-4.5"]
MODELS = [*PASSTHROUGH, "copilot/gpt-5-codex", "kiro/claude-sonnet-4.5"]


@asynccontextmanager
async def _gateway(tmp_path: Path) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        copilot, _ = await start_copilot_for_tests(nursery, tmp_path / "copilot")
        kiro, _ = await start_kiro_for_tests(nursery, tmp_path / "kiro")
        config = Config(default_provider="copilot", upstream=UpstreamConfig(connect_timeout=5.0))
        async with serve(create_app(make_gateway(copilot, kiro, config=config))) as url:
            yield url
        nursery.cancel_scope.cancel()


def _ask(url: str, model: str, extra: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """One whole and one streamed answer through the (sync) openai SDK: the message, and
    the stream's deltas."""
    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as client:
        whole = client.chat.completions.create(model=model, messages=ASK, **extra)  # type: ignore[arg-type]
        stream = client.chat.completions.create(
            model=model,
            messages=ASK,  # type: ignore[arg-type]
            stream=True,
            **extra,
        )
        with stream:
            deltas = [c.choices[0].delta.model_dump() for c in stream if c.choices]
    return whole.choices[0].message.model_dump(), deltas


@pytest.mark.parametrize("effort", [None, "high"])
async def test_every_provider_answers_with_reasoning_content(
    tmp_path: Path, effort: str | None
) -> None:
    extra: dict[str, Any] = {} if effort is None else {"reasoning_effort": effort}
    async with _gateway(tmp_path) as url:
        for model in MODELS:
            message, deltas = await trio.to_thread.run_sync(_ask, url, model, extra)
            assert message["reasoning_content"] == THOUGHT, (model, message)
            assert message["content"].endswith("You said: hi"), model
            reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
            assert reasoning == THOUGHT, (model, deltas)
            text = "".join(d.get("content") or "" for d in deltas)
            assert text.endswith("You said: hi"), model
            # The reasoning comes before the answer, as it did upstream.
            first_reasoning = next(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
            first_text = next(i for i, d in enumerate(deltas) if d.get("content"))
            assert first_reasoning < first_text, (model, deltas)
            if model in PASSTHROUGH:  # Copilot's own fields stay for clients that know them
                assert message["reasoning_text"] == THOUGHT
                assert message["reasoning_opaque"]
                assert "".join(d.get("reasoning_text") or "" for d in deltas) == THOUGHT
                assert any(d.get("reasoning_opaque") for d in deltas)


# --------------------------------------------------------------------------- the stream rewrite

CHUNKS = [
    {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
    {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_text": 'a "quoted"'}}]},
    {"choices": [{"index": 0, "delta": {"reasoning_text": " thought é"}}]},
    {"choices": [{"index": 0, "delta": {"content": "", "reasoning_opaque": "sig"}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hi, reasoning_text is a word"}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
]


def _upstream(newline: bytes) -> bytes:
    events = [b"data: " + json.dumps(c).encode() for c in CHUNKS] + [b"data: [DONE]"]
    return b"".join(e + newline * 2 for e in events)


async def _rewrite(pieces: list[bytes]) -> bytes:
    async def source() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    rewritten = reasoning_content_events(source())
    try:
        return b"".join([chunk async for chunk in rewritten])
    finally:
        await rewritten.aclose()


def _deltas(raw: bytes) -> list[dict[str, Any]]:
    data = [json.loads(e.data) for e in sse_events(raw) if e.data != "[DONE]"]
    return [c["choices"][0]["delta"] for c in data if c["choices"]]


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_reasoning_content_is_added_wherever_the_reads_are_cut(cuts: list[int]) -> None:
    for newline in (b"\n", b"\r\n"):
        upstream = _upstream(newline)
        edges = sorted({0, len(upstream), *(c % (len(upstream) + 1) for c in cuts)})
        pieces = [upstream[a:b] for a, b in itertools.pairwise(edges)]
        out = trio.run(_rewrite, pieces)
        deltas = _deltas(out)
        expected = [c["choices"][0]["delta"] for c in CHUNKS if c["choices"]]
        for got, sent in zip(deltas, expected, strict=True):
            if "reasoning_text" in sent:
                assert got == {**sent, "reasoning_content": sent["reasoning_text"]}
            else:
                assert got == sent
        assert out.endswith(b"data: [DONE]" + newline * 2)


async def test_chunks_without_reasoning_pass_through_untouched() -> None:
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
    malformed = b'data: {"choices":[{"delta":{"reasoning_text":"cut\n\n'
    assert await _rewrite([chunk, chunk]) == chunk * 2
    assert await _rewrite([chunk, malformed]) == chunk + malformed


# ------------------------------------------------ gathered and translated whole answers (item 8)


def _gathered_chat(url: str, model: str) -> dict[str, Any]:
    """A whole chat answer whose max_tokens (20000) is over Copilot's non-stream limit
    (16000): the gateway streams it upstream and gathers it."""
    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as client:
        whole = client.chat.completions.create(model=model, messages=ASK, max_tokens=20000)  # type: ignore[arg-type]
    return whole.choices[0].message.model_dump()


def _whole_anthropic(url: str, model: str, max_tokens: int) -> list[dict[str, Any]]:
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client:
        answer = client.messages.create(model=model, messages=ASK, max_tokens=max_tokens)  # type: ignore[arg-type]
    return [block.model_dump() for block in answer.content]


async def test_reasoning_and_its_signature_survive_gathered_and_translated_answers(
    tmp_path: Path,
) -> None:
    async with _gateway(tmp_path) as url:
        # Chat, streamed upstream and gathered: reasoning_content and Copilot's own pair.
        message = await trio.to_thread.run_sync(_gathered_chat, url, "copilot/claude-sonnet-4.5")
        assert message["reasoning_content"] == THOUGHT, message
        assert message["reasoning_text"] == THOUGHT
        assert message["reasoning_opaque"] == "sig-sim-opaque"
        assert message["content"].endswith("You said: hi")
        # Anthropic, gathered (20000 > 16000) and whole (8000), natively and translated from
        # Copilot's chat endpoint (gpt-4o): a thinking block with its signature, then text.
        for model, max_tokens in itertools.product(
            ["copilot/claude-sonnet-4.5", "copilot/gpt-4o"], [20000, 8000]
        ):
            blocks = await trio.to_thread.run_sync(_whole_anthropic, url, model, max_tokens)
            assert [b["type"] for b in blocks] == ["thinking", "text"], (model, blocks)
            assert blocks[0]["thinking"] == THOUGHT
            assert blocks[0]["signature"], (model, max_tokens, blocks)
            assert blocks[1]["text"].endswith("You said: hi")


def test_a_translated_chat_stream_keeps_the_thinking_signature_as_reasoning_opaque() -> None:
    """Any signed thinking (an Anthropic-shaped upstream, Copilot's own) rendered as a chat
    stream carries its signature in Copilot's field, so the client can replay it."""
    renderer = StreamRenderer(model="m")
    events: list[ir.StreamEvent] = [
        ir.MessageStart(id="msg_1", model="m"),
        ir.BlockStart(index=0, block=ir.ThinkingBlock(thinking="")),
        ir.ThinkingDelta(index=0, thinking=THOUGHT),
        ir.SignatureDelta(index=0, signature="sig-1"),
        ir.MessageStop(),
    ]
    deltas = _deltas(b"".join(renderer.feed(event) for event in events))
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == THOUGHT
    assert [d["reasoning_opaque"] for d in deltas if "reasoning_opaque" in d] == ["sig-1"]
