"""The upstream client's sans-I/O HTTP/1.1 codec: framing, splits at every byte, refusals."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiclient_trio.codecs.http1 import END, Head, ProtocolError, ResponseParser, render_head

LENGTH = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": true}'
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"6;ext=1\r\ndata: \r\n"
    b"c\r\n1\n\ndata: 2\n\n\r\n"
    b"0\r\nx-trailer: yes\r\n\r\n"
)
CLOSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end"


def run(parser: ResponseParser, pieces: list[bytes], eof: bool = False) -> tuple[Head, bytes, bool]:
    events: list[Any] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    if eof:
        events.extend(parser.feed_eof())
    head = events[0]
    assert isinstance(head, Head)
    body = b"".join(e for e in events[1:] if isinstance(e, bytes))
    assert all(isinstance(e, bytes) for e in events[1:-1])
    return head, body, events[-1] is END


def splits(data: bytes) -> list[list[bytes]]:
    """The bytes whole, one at a time, and cut in two at every position."""
    return [[data], [data[i : i + 1] for i in range(len(data))]] + [
        [data[:i], data[i:]] for i in range(1, len(data))
    ]


@pytest.mark.parametrize("pieces", splits(LENGTH))
def test_content_length_body_in_any_split(pieces: list[bytes]) -> None:
    parser = ResponseParser()
    head, body, ended = run(parser, pieces)
    assert (head.status, head.reason, head.headers["content-type"]) == (
        200,
        "OK",
        "application/json",
    )
    assert body == b'{"a": true}' and ended and parser.reusable


@pytest.mark.parametrize("pieces", splits(CHUNKED))
def test_chunked_body_with_extensions_and_trailers_in_any_split(pieces: list[bytes]) -> None:
    parser = ResponseParser()
    head, body, ended = run(parser, pieces)
    assert head.headers["transfer-encoding"] == "chunked"
    assert body == b"data: 1\n\ndata: 2\n\n" and ended and parser.reusable


def test_partial_chunk_data_is_passed_on_at_once() -> None:
    """A stream is never held back waiting for the rest of a chunk."""
    parser = ResponseParser()
    events = parser.feed(CHUNKED[: CHUNKED.index(b"c\r\n") + 3 + 4])
    assert [e for e in events if isinstance(e, bytes)] == [b"data: ", b"1\n\nd"]
    assert END not in events


@pytest.mark.parametrize("pieces", splits(CLOSE))
def test_close_delimited_body_ends_at_eof_and_is_not_reusable(pieces: list[bytes]) -> None:
    parser = ResponseParser()
    head, body, ended = run(parser, pieces, eof=True)
    assert body == b"until the end" and ended
    assert not head.keep_alive and not parser.reusable


def test_interim_answers_are_skipped_and_bodiless_answers_end_at_once() -> None:
    parser = ResponseParser()
    events = parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert [type(e).__name__ for e in events] == ["Head", "_End"]
    assert events[0] == Head(204, "No Content", {}, True)
    head_parser = ResponseParser(no_body=True)
    events = head_parser.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n")
    assert events[-1] is END and head_parser.reusable


def test_connection_close_and_http10_are_not_reusable() -> None:
    for raw in (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ):
        parser = ResponseParser()
        assert parser.feed(raw)[-1] is END
        assert parser.done and not parser.reusable
    parser = ResponseParser()
    parser.feed(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert parser.reusable


def test_bytes_past_the_end_of_an_answer_make_the_connection_unusable() -> None:
    """The server sent more than it framed (a 204 with a body, a short Content-Length): the
    rest may still be in flight and would be read as the next request's answer."""
    for raw in (LENGTH + b"junk", b"HTTP/1.1 204 No Content\r\n\r\n{}"):
        parser = ResponseParser()
        assert parser.feed(raw)[-1] is END
        assert parser.done and not parser.reusable


def test_suspect_framing_is_read_by_transfer_encoding_then_the_connection_closed() -> None:
    """RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing, close after the
    answer; 6.3: with Content-Length too it overrides it but ought to be handled as an error."""
    chunked = b"transfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    for raw in (
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n" + chunked,
        b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n" + chunked,
    ):
        parser = ResponseParser()
        _, body, ended = run(parser, [raw])
        assert body == b"{}" and ended and not parser.reusable


def test_repeated_headers_are_joined() -> None:
    parser = ResponseParser()
    head = parser.feed(b"HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\ncontent-length: 0\r\n\r\n")[0]
    assert isinstance(head, Head) and head.headers["vary"] == "a, b"


def test_a_folded_header_line_continues_the_field_with_a_space() -> None:
    """RFC 9112 5.2: a user agent replaces obs-fold with SP (it refused the whole answer)."""
    raw = b"HTTP/1.1 200 OK\r\nx-note: one\r\n \t two\r\ncontent-length: 0\r\n\r\n"
    head = ResponseParser().feed(raw)[0]
    assert isinstance(head, Head) and head.headers == {"x-note": "one two", "content-length": "0"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\n bad: fold\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: +1\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: \xb2\r\n\r\n", "bad content-length"),  # a "2"
        (b"HTTP/1.1 2\xb20 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1_0\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0x5\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", "unsupported transfer-encoding"),
        (  # chunked last, but the gzip coding under it would reach the caller undecoded
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            "unsupported transfer-encoding",
        ),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nabc", "not followed by CRLF"),
        (b"HTTP/1.1 101 Switching\r\n\r\n", "protocol switch"),
        (b"HTTP/1.1 200 OK\r\nx: " + b"a" * 70_000, "larger than 64 KiB"),
    ],
)
def test_framing_errors_are_refused_with_a_reason(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ResponseParser().feed(raw)


def test_eof_before_or_inside_an_answer_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="without answering"):
        ResponseParser().feed_eof()
    parser = ResponseParser()
    parser.feed(LENGTH[:-3])
    with pytest.raises(ProtocolError, match="middle of its answer"):
        parser.feed_eof()


def test_render_head_and_header_injection() -> None:
    head = render_head("POST", "/v1/x?a=1", [("host", "h:1"), ("content-length", "2")])
    assert head == b"POST /v1/x?a=1 HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\n"
    for bad in [("x", "a\r\nevil: 1"), ("x\r\n", "v"), ("", "v"), ("a b", "v"), ("a:b", "v")]:
        with pytest.raises(ValueError):
            render_head("GET", "/", [bad])
    with pytest.raises(ValueError):
        render_head("GET", "/ HTTP/1.1\r\nx: y", [])


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_chunked_round_trip_in_random_splits(chunks: list[bytes], cuts: list[int]) -> None:
    raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    points = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    pieces = [raw[a:b] for a, b in itertools.pairwise(points)]
    parser = ResponseParser()
    _, body, ended = run(parser, pieces)
    assert body == b"".join(chunks) and ended
