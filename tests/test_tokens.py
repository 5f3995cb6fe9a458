"""Tests for the local token estimate (aiclient_trio.formats.tokens).

The main check compares the estimate with o200k_base counts committed in
tests/data/tokens/reference.json (made by tests/data/tokens/make_reference.py).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from aiclient_trio import ir
from aiclient_trio.formats import tokens
from aiclient_trio.formats.tokens import (
    IMAGE_TOKENS,
    estimate_request_tokens,
    estimate_text_tokens,
)

DATA = Path(__file__).parent / "data" / "tokens"
CORPUS = DATA / "corpus"
REFERENCE = json.loads((DATA / "reference.json").read_text("utf-8"))["counts"]

MAX_UNDER = 0.05  # no sample may be under-counted by more than 5%
TOTAL_OVER = (0.0, 0.12)  # the corpus as a whole: 0-12% over


def corpus_text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def test_corpus_and_reference_agree() -> None:
    names = sorted(p.name for p in CORPUS.iterdir())
    assert names == sorted(REFERENCE)
    assert 20 <= len(names) <= 40
    kinds = {name.split("_")[0] for name in names}
    assert {"prose", "python", "js", "rust", "json"} <= kinds


def test_reference_counts_match_tiktoken_when_available() -> None:
    # An extra check for machines that have tiktoken and a local o200k_base file; the
    # committed counts (checked below) are the main test and need neither.
    path = os.environ.get("AICLIENT_O200K_FILE")
    if not path or importlib.util.find_spec("tiktoken") is None:
        assert all(isinstance(n, int) and n > 0 for n in REFERENCE.values())
        return
    sys.path.insert(0, str(DATA))
    try:
        import make_reference  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DATA))
    encoding = make_reference.load_encoding(Path(path))
    for name, count in REFERENCE.items():
        assert len(encoding.encode_ordinary(corpus_text(name))) == count, name


def test_estimate_against_o200k_reference() -> None:
    ratios = {name: estimate_text_tokens(corpus_text(name)) / n for name, n in REFERENCE.items()}
    worst = min(ratios, key=ratios.__getitem__)
    total = sum(estimate_text_tokens(corpus_text(name)) for name in REFERENCE) / sum(
        REFERENCE.values()
    )
    summary = f"worst {worst} {ratios[worst] - 1:+.1%}, total {total - 1:+.1%}"
    print(summary)
    for name, ratio in ratios.items():
        assert ratio >= 1 - MAX_UNDER, f"{name} under-counted: {ratio - 1:+.1%} ({summary})"
    assert 1 + TOTAL_OVER[0] <= total <= 1 + TOTAL_OVER[1], summary


@pytest.mark.parametrize("kind", ["prose", "python", "js", "rust", "json"])
def test_each_kind_is_close(kind: str) -> None:
    names = [n for n in REFERENCE if n.startswith(kind)]
    estimate = sum(estimate_text_tokens(corpus_text(n)) for n in names)
    reference = sum(REFERENCE[n] for n in names)
    assert 0.97 <= estimate / reference <= 1.15, (kind, estimate, reference)


@pytest.mark.parametrize(
    ("text", "o200k"),
    [
        # Counts measured with make_reference.load_encoding (o200k_base).
        ("你好，世界。我们今天去公园散步。", 12),  # noqa: RUF001
        ("日本語のテキストを書いています。", 10),
        ("Привет, как дела? Сегодня хорошая погода.", 12),
        ("안녕하세요, 오늘 날씨가 좋네요.", 10),
        ("Ça va très bien, merci beaucoup! Die Straße ist schön.", 13),
        ("Deploy finished \U0001f600\U0001f389\U0001f44d \u2014 all green \u2705", 10),
        ("Ελληνικά: καλημέρα σας, τι κάνετε;", 14),
        ("مرحبا بالعالم، كيف حالك اليوم؟", 10),
    ],
)
def test_non_ascii_is_not_under_counted(text: str, o200k: int) -> None:
    estimate = estimate_text_tokens(text)
    assert o200k <= estimate <= 2 * o200k


def test_base64_and_hex_runs() -> None:
    blob = base64.b64encode(bytes(range(256)) * 12).decode()  # 4096 characters
    # o200k spends ~0.68 tokens per base64 character and ~0.57 per hex digit.
    assert estimate_text_tokens(blob) >= 0.68 * len(blob)
    digest = bytes(range(256)).hex()
    assert estimate_text_tokens(digest) >= 0.57 * len(digest)


def test_small_and_edge_inputs() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("a") == 2  # one piece, rounded up after the margin
    assert estimate_text_tokens(" ") >= 1
    assert estimate_text_tokens("\n\n\n") >= 1
    assert estimate_text_tokens("x" * 10_000) >= 10_000 // 8
    assert estimate_text_tokens("\U0001f600" * 100) >= 100


def test_deterministic_and_additive() -> None:
    a = corpus_text("prose_01_harbour.txt")
    b = corpus_text("python_02_heapq.py.txt")
    assert estimate_text_tokens(a) == estimate_text_tokens(a)
    joined = estimate_text_tokens(a + "\n" + b)
    assert abs(joined - (estimate_text_tokens(a) + estimate_text_tokens(b))) <= 3


def _python_lines_run(text: str) -> int:
    lines = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal lines
        if frame.f_code.co_filename != tokens.__file__:
            return None  # finalizers of other tests' garbage may run meanwhile
        if event == "line":
            lines += 1
        return tracer

    sys.settrace(tracer)
    try:
        assert estimate_text_tokens(text) > len(text) // 10
    finally:
        sys.settrace(None)
    return lines


def test_a_megabyte_takes_no_python_step_per_character() -> None:
    """The cost stays in C (a regex scan, map and sum): for 1 MB, the Python lines of 1 kB
    once per 16 KiB slice (slices let other threads run between regex calls), none per piece
    or character. Counted, not timed, so a loaded machine cannot fail it (the speed itself
    is for `nox -s bench`)."""
    text = "".join(corpus_text(n) for n in sorted(REFERENCE))
    small, big = text[:1000], text * 12  # ~1 kB, ~1 MB
    slices = len(big) // (tokens._SLICE // 2) + 1  # a slice is at least half of _SLICE
    assert _python_lines_run(big) <= (_python_lines_run(small) + 10) * slices
    assert slices < len(big) // 1000  # far fewer steps than pieces


# --------------------------------------------------------------------------- requests


def request(
    messages: tuple[ir.Message, ...] = (),
    system: tuple[ir.TextBlock, ...] = (),
    tools: tuple[ir.Tool, ...] = (),
) -> ir.Request:
    return ir.Request(model="m", messages=messages, system=system, tools=tools)


def user(*blocks: ir.ContentBlock) -> ir.Message:
    return ir.Message("user", tuple(blocks))


def test_request_counts_every_part() -> None:
    text = corpus_text("prose_05_science.txt")
    base = estimate_request_tokens(request())
    assert base > 0
    with_system = estimate_request_tokens(request(system=(ir.TextBlock(text),)))
    assert with_system - base == estimate_text_tokens(text)
    with_message = estimate_request_tokens(request(messages=(user(ir.TextBlock(text)),)))
    assert with_message - base > estimate_text_tokens(text)


def test_request_images_tools_and_thinking() -> None:
    base = estimate_request_tokens(request(messages=(user(ir.TextBlock("hi")),)))
    image = ir.ImageBlock(media_type="image/png", data="iVBORw0KGgo=")
    with_image = estimate_request_tokens(request(messages=(user(ir.TextBlock("hi"), image),)))
    assert with_image - base == IMAGE_TOKENS

    schema = json.loads(corpus_text("json_01_tool_schemas.json"))["tools"][0]
    tool = ir.Tool(schema["name"], schema["description"], schema["input_schema"])
    with_tool = estimate_request_tokens(
        request(messages=(user(ir.TextBlock("hi")),), tools=(tool,))
    )
    assert with_tool - base >= estimate_text_tokens(json.dumps(schema["input_schema"])) * 0.8

    big_input = {"path": "src/" + "deep/" * 50 + "file.py", "limit": 200}
    call = ir.Message("assistant", (ir.ToolUseBlock("toolu_1", "read_file", big_input),))
    result = user(ir.ToolResultBlock("toolu_1", (ir.TextBlock(corpus_text("rust_01_lru.rs")),)))
    convo = estimate_request_tokens(request(messages=(user(ir.TextBlock("hi")), call, result)))
    assert convo - base >= estimate_text_tokens(corpus_text("rust_01_lru.rs")) + 50

    thinking = ir.Message("assistant", (ir.ThinkingBlock("step " * 200, "sig"),))
    with_thinking = estimate_request_tokens(request(messages=(user(ir.TextBlock("hi")), thinking)))
    assert with_thinking - base >= 200


def test_request_estimate_close_to_text_estimate_for_plain_chat() -> None:
    texts = [corpus_text(n) for n in sorted(REFERENCE) if n.startswith("prose")]
    messages = tuple(
        ir.Message("user" if i % 2 == 0 else "assistant", (ir.TextBlock(t),))
        for i, t in enumerate(texts)
    )
    estimate = estimate_request_tokens(request(messages=messages))
    plain = sum(estimate_text_tokens(t) for t in texts)
    assert plain < estimate <= plain + 10 * len(texts)
