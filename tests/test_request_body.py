"""formats.body: a request body parsed within bounds, its checks done in slices (issue 14
items 1-3). The slice size is shrunk here so every boundary case (a slice ending inside a
string, inside an escape, between brackets) comes up in small bodies."""

from __future__ import annotations

import json
import threading
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import example, given

from aiclient_trio.errors import InvalidRequest, RequestTooLarge
from aiclient_trio.formats import body as request_body
from aiclient_trio.formats.body import (
    MAX_JSON_CONTAINERS,
    json_depth_exceeds,
    parse_request_body,
    parse_request_body_off_loop,
)
from aiclient_trio.offload import BIG_BYTES

_TEXT = st.text(st.sampled_from('ab"\\[]{}é\n\t/'), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)


def _depth_and_containers(value: Any) -> tuple[int, int]:
    if isinstance(value, list | dict):
        children = value.values() if isinstance(value, dict) else value
        inner = [_depth_and_containers(child) for child in children]
        return 1 + max((d for d, _ in inner), default=0), 1 + sum(c for _, c in inner)
    return 0, 0


@given(_JSON, st.integers(min_value=1, max_value=9), st.booleans())
@example({"a": '[[[[[[\\"[[[[', "b": [{"c": "]]]]"}]}, 1, False)
def test_the_sliced_scan_counts_what_the_parsed_value_holds(
    value: Any, slice_size: int, ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(request_body, "_SLICE", slice_size)
        assert request_body._shape(raw, 1 << 30, 1 << 30) == _depth_and_containers(value)


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def test_depth_limit() -> None:
    assert not json_depth_exceeds(_nested(64), 64)
    assert json_depth_exceeds(_nested(65), 64)
    tricky = json.dumps({"a": '[[[[[[\\"[[[[', "b": [{"c": "]]]]"}]}).encode()
    assert not json_depth_exceeds(tricky, 3)
    assert json_depth_exceeds(tricky, 2)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"model":', "truncated"),
        (b'{"model": "x", "messages": [', "truncated"),
        (b'{"temperature": NaN}', "NaN"),
        (b'{"temperature": -Infinity}', "-Infinity"),
        (b'{"model": "x"} trailing', "not valid JSON"),
        (b'{"model": "\xff"}', "UTF-8"),
        (b"[" * 100_000, "nesting exceeds the limit of 64"),
        (b'{"a":' + _nested(100) + b"}", "nesting exceeds the limit of 64"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"{nope", "not valid JSON"),
        (b"", "truncated"),
    ],
)
def test_bad_bodies_get_a_message_that_says_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says) as caught:
        parse_request_body(raw, 64)
    if "nesting" not in says:
        assert "nesting" not in caught.value.message


def test_a_good_body_is_parsed_whole() -> None:
    assert parse_request_body(b'{"a": [1, {"b": 2}]}', 64) == {"a": [1, {"b": 2}]}


def test_lone_surrogates_are_refused_naming_the_field_even_across_slices() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"a"},{"content":"x\\udc00"}]}'
    for size in (3, 5, 1 << 20):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(request_body, "_SLICE", size)
            with pytest.raises(InvalidRequest) as caught:
                parse_request_body(raw, 64)
            assert caught.value.param == "messages[1].content"
            # Raw surrogate bytes (which json.loads(bytes) lets through) are caught too.
            with pytest.raises(InvalidRequest, match=r"model"):
                parse_request_body(b'{"model":"kiro/\xed\xa0\x80"}', 64)
            # A valid pair is text, not a lone surrogate.
            assert parse_request_body(b'{"model":"\\ud83d\\ude00"}', 64) == {"model": "\U0001f600"}


def test_countless_tiny_objects_are_refused_before_they_are_built() -> None:
    messages = [{"role": "user", "content": "x"}] * (MAX_JSON_CONTAINERS + 1)
    raw = json.dumps({"model": "m", "messages": messages}).encode()
    with pytest.raises(RequestTooLarge, match=f"more than {MAX_JSON_CONTAINERS} JSON objects"):
        parse_request_body(raw, 64)
    # A long real session (4,000 tool round trips, more than any upstream's context holds)
    # stays inside the bound.
    call = {"type": "tool_use", "id": "t", "name": "Read", "input": {"path": "a.py"}}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x"}]}
    session = [
        {"role": "assistant", "content": [{"type": "text", "text": "Reading."}, call]},
        {"role": "user", "content": [result]},
    ] * 4_000
    assert parse_request_body(json.dumps({"messages": session}).encode(), 64)


async def test_a_big_body_is_parsed_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = request_body.parse_request_body

    def noting(*args: Any) -> dict[str, Any]:
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(request_body, "parse_request_body", noting)
    small = json.dumps({"model": "m"}).encode()
    big = json.dumps({"model": "m", "text": "x" * BIG_BYTES}).encode()
    assert await parse_request_body_off_loop(small, 64) == {"model": "m"}
    assert (await parse_request_body_off_loop(big, 64))["model"] == "m"
    assert threads[0] is threading.main_thread()
    assert threads[1] is not threading.main_thread()
