"""offload: big-request checks and JSON encoded in pieces (the same bytes as one json.dumps)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiclient_trio import ir, offload
from aiclient_trio.offload import BIG_BYTES, body_is_big, dumps_in_pieces, request_is_big
from aiclient_trio.providers.kiro.convert import build_request, encode_for

_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# Long lists (the ones encoded item by item) at the depths a request body has them.
_LONG = st.lists(
    _LEAF | st.dictionaries(st.text(max_size=3), _LEAF, max_size=2), min_size=65, max_size=70
)
_BODY = st.recursive(
    _LONG, lambda inner: st.dictionaries(st.text(), inner | _JSON, max_size=3), max_leaves=3
)


@given(_JSON | _BODY, st.booleans())
def test_pieces_are_the_same_text_as_one_dumps(value: Any, tiny_pieces: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        if tiny_pieces:  # every string and list is cut: every boundary comes up
            patch.setattr(offload, "_PIECE_CHARS", 1)
            patch.setattr(offload, "_PIECE_ITEMS", 1)
            patch.setattr(offload, "_BULK_LOOK", 2)
        assert dumps_in_pieces(value) == json.dumps(value)
        compact = {"ensure_ascii": False, "separators": (",", ":")}
        assert dumps_in_pieces(value, **compact) == json.dumps(value, **compact)  # type: ignore[arg-type]


def test_a_long_history_is_encoded_as_one_dumps_would() -> None:
    messages = [{"role": "user", "content": f"m{i} é\n"} for i in range(1000)]
    body = {"model": "m", "messages": messages, "tools": [], "meta": {"deep": [[1, 2]] * 70}}
    assert dumps_in_pieces(body) == json.dumps(body)
    state = {"conversationState": {"history": messages, "currentMessage": {"x": "ü😀" * 2 * 10**5}}}
    compact = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    assert dumps_in_pieces(state, ensure_ascii=False, separators=(",", ":")) == compact


def _request(count: int, text: str = "hi") -> ir.Request:
    message = ir.Message(role="user", content=(ir.TextBlock(text),))
    return ir.Request(model="m", messages=(message,) * count)


def test_what_counts_as_big() -> None:
    assert not request_is_big(_request(10))
    assert request_is_big(_request(1000))  # many messages
    assert request_is_big(_request(1, "x" * BIG_BYTES))  # one long text
    use = ir.ToolUseBlock(id="t", name="write", input={"content": "x" * BIG_BYTES})
    assert request_is_big(ir.Request(model="m", messages=(ir.Message("assistant", (use,)),)))
    assert not body_is_big({"messages": [{"role": "user", "content": "hi"}] * 10})
    assert body_is_big({"messages": [{"role": "user", "content": "hi"}] * 1000})
    assert body_is_big({"messages": [{"role": "user", "content": "x" * BIG_BYTES}]})
    assert body_is_big({"a": [[[1]] * 200] * 200})  # past the values the check looks at


def test_host_fields_appended_to_the_encoded_body_match_a_fresh_encoding() -> None:
    converted = build_request(_request(300), model_id="claude-sonnet-4.5")
    for arn in (None, "arn:aws:codewhisperer:us-east-1:1:profile/P"):
        for agent_mode in (False, True):
            body = dict(converted.body)
            if agent_mode:
                body["agentMode"] = "vibe"
            if arn:
                body["profileArn"] = arn
            fresh = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            assert encode_for(converted, profile_arn=arn, agent_mode=agent_mode) == fresh
