"""Tests for the sans-I/O SSE decoder and encoder (aiclient_trio.codecs.sse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiclient_trio.codecs.sse import SSEDecoder, SSEError, SSEEvent, encode_comment, encode_event

DATA = Path(__file__).parent / "data" / "sse"
FIXTURES = sorted(DATA.glob("*.json"))


def load(path: Path) -> tuple[bytes, list[SSEEvent]]:
    case: dict[str, Any] = json.loads(path.read_text("utf-8"))
    expected = [SSEEvent(e["data"], e.get("event"), e.get("id")) for e in case["events"]]
    return case["raw"].encode("utf-8"), expected


def decode_chunks(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 5


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_whole(path: Path) -> None:
    raw, expected = load(path)
    assert decode_chunks([raw]) == expected


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_split_at_every_boundary(path: Path) -> None:
    raw, expected = load(path)
    for i in range(len(raw) + 1):
        assert decode_chunks([raw[:i], raw[i:]]) == expected, i


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_byte_by_byte(path: Path) -> None:
    raw, expected = load(path)
    assert decode_chunks([raw[i : i + 1] for i in range(len(raw))]) == expected


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_three_way_splits(path: Path) -> None:
    raw, expected = load(path)
    n = len(raw)
    for i in range(0, n + 1, 3):
        for j in range(i, n + 1, 7):
            assert decode_chunks([raw[:i], raw[i:j], raw[j:]]) == expected, (i, j)


def test_events_come_out_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [SSEEvent("a")]
    assert decoder.feed(b"data: b\r") == []
    # The blank line ("\r") completes the event even before a possible "\n" follows.
    assert decoder.feed(b"\r") == [SSEEvent("b")]
    assert decoder.feed(b"\ndata: c\n\n") == [SSEEvent("c")]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # If "\r" + "\n" were two line ends, "data: x" would be dispatched after the first
    # chunk and "event: e" would name the wrong event.
    assert decode_chunks([b"data: x\r", b"\nevent: e\r", b"\ndata: y\r\n\r\n"]) == [
        SSEEvent("x\ny", "e")
    ]


def test_utf8_split_inside_character() -> None:
    raw = "data: \U0001f600\u00e9\n\n".encode()
    for i in range(len(raw) + 1):
        assert decode_chunks([raw[:i], raw[i:]]) == [SSEEvent("\U0001f600\u00e9")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_chunks([b"data: \xff\xfe ok\n\n"]) == [SSEEvent("\ufffd\ufffd ok")]


def test_feed_accepts_reused_bytearray() -> None:
    decoder = SSEDecoder()
    scratch = bytearray(b"data: partial")
    assert decoder.feed(scratch) == []
    scratch[:] = b"XXXXXXXXXXXXX"  # the caller reuses its buffer
    assert decoder.feed(memoryview(b" line\n\n")) == [SSEEvent("partial line")]


def test_done_is_plain_data() -> None:
    assert decode_chunks([b"data: [DONE]\n\n"]) == [SSEEvent("[DONE]")]


def test_close_dispatches_pending_event_with_complete_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: done\ndata: 1\ndata: 2\n") == []
    assert decoder.close() == [SSEEvent("1\n2", "done")]


def test_close_drops_partial_line_and_its_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\ndata: trunc") == [SSEEvent("1")]
    assert decoder.close() == []


def test_close_with_nothing_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\n: bye\n") == [SSEEvent("1")]
    assert decoder.close() == []


def test_event_name_and_id_reset_between_events() -> None:
    raw = b"event: a\nid: 1\ndata: x\n\ndata: y\n\n"
    assert decode_chunks([raw]) == [SSEEvent("x", "a", "1"), SSEEvent("y")]


def test_id_with_nul_is_ignored() -> None:
    assert decode_chunks([b"id: a\x00b\ndata: x\n\n"]) == [SSEEvent("x")]


def test_long_line_raises_when_split_across_feeds() -> None:
    decoder = SSEDecoder(max_line=100)
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(SSEError):
        decoder.feed(b"x" * 60)


def test_long_complete_line_raises() -> None:
    decoder = SSEDecoder(max_line=100)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 200 + b"\n\n")


def test_line_at_limit_is_fine() -> None:
    decoder = SSEDecoder(max_line=100)
    line = b"data: " + b"x" * 94
    assert decoder.feed(line[:50]) == []
    assert decoder.feed(line[50:] + b"\n\n") == [SSEEvent("x" * 94)]


def test_long_line_in_small_chunks_is_linear() -> None:
    # 4 MiB in 1 KiB pieces: quadratic re-joining would take many seconds.
    decoder = SSEDecoder()
    decoder.feed(b"data: ")
    piece = b"y" * 1024
    for _ in range(4096):
        assert decoder.feed(piece) == []
    (event,) = decoder.feed(b"\n\n")
    assert len(event.data) == 4 * 1024 * 1024


def test_encode_event_shapes() -> None:
    assert encode_event("x") == b"data: x\n\n"
    assert encode_event('{"a":1}', "message_start") == b'event: message_start\ndata: {"a":1}\n\n'
    assert encode_event("a\nb\r\nc\rd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert encode_event("", id="5") == b"id: 5\ndata: \n\n"
    assert encode_event(" lead") == b"data:  lead\n\n"


def test_encode_event_rejects_line_breaks_in_name() -> None:
    with pytest.raises(ValueError):
        encode_event("x", "a\nb")
    with pytest.raises(ValueError):
        encode_event("x", id="1\r")


def test_encode_comment_is_ignored_by_decoder() -> None:
    assert encode_comment("ping") == b": ping\n\n"
    raw = encode_comment("two\nlines") + encode_event("x") + encode_comment()
    assert decode_chunks([raw]) == [SSEEvent("x")]


# Data without "\r" round-trips exactly; "\r\n" and "\r" are normalised to "\n" on the wire.
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r"))
_name = st.none() | st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), min_size=1
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(_text, _name), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
    comments=st.booleans(),
)
def test_roundtrip_random_events_random_splits(
    events: list[tuple[str, str | None]], cuts: list[int], comments: bool
) -> None:
    raw = b""
    for data, name in events:
        raw += encode_event(data, name)
        if comments:
            raw += encode_comment("keep-alive")
    points = sorted({min(c, len(raw)) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode_chunks(chunks) == [SSEEvent(d, n) for d, n in events]
