"""Tests for the AWS event-stream codec (aiclient_trio.codecs.eventstream).

Vectors in tests/data/eventstream are verbatim copies from aws-sdk-go and smithy-rs
(see that folder's README for provenance and licence).
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiclient_trio.codecs.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    HeaderError,
    HeaderValue,
    MessageChecksumError,
    MessageLengthError,
    PreludeChecksumError,
    TruncatedStreamError,
    TypedHeaderValue,
    encode_message,
)

DATA = Path(__file__).parent / "data" / "eventstream"
GO = DATA / "aws-sdk-go"
SMITHY = DATA / "smithy-rs"
GO_POSITIVE = sorted(p.name for p in (GO / "encoded" / "positive").iterdir())
GO_NEGATIVE = sorted(p.name for p in (GO / "encoded" / "negative").iterdir())

# kiro.md §10: assistantResponseEvent {"content":"Hi"}, 124 bytes.
KIRO_REFERENCE = bytes.fromhex(
    "0000007c0000005c3bddcf780b3a6576656e742d74797065070016617373697374616e74"
    "526573706f6e73654576656e740d3a636f6e74656e742d747970650700106170706c6963"
    "6174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f"
    "6e74656e74223a224869227db02babdc"
)

SMITHY_VALID: dict[str, EventStreamMessage] = {
    "valid_with_all_headers_and_payload": EventStreamMessage(
        {
            "true": True,
            "false": False,
            "byte": 50,
            "short": 20000,
            "int": 500000,
            "long": 50000000000,
            "bytes": b"some bytes",
            "str": "some str",
            "time": 5_000_000_000,
            "uuid": uuid.UUID("b79bc914-de21-4e13-b8b2-bc47e85b7f0b"),
        },
        b"some payload",
    ),
    "valid_empty_payload": EventStreamMessage({"some-header": 500}, b""),
    "valid_no_headers": EventStreamMessage({}, b"another test payload"),
}

# Expected error kinds follow our check order: prelude CRC, lengths, message CRC, headers.
SMITHY_INVALID: dict[str, type[EventStreamError]] = {
    "invalid_prelude_checksum": PreludeChecksumError,
    "invalid_message_checksum": MessageChecksumError,
    "invalid_headers_length": MessageLengthError,
    "invalid_header_value_type": MessageChecksumError,
    "invalid_header_name_length": MessageChecksumError,
    "invalid_header_string_value_length": MessageChecksumError,
    "invalid_header_string_length_cut_off": MessageChecksumError,
    "invalid_header_name_length_too_long": MessageChecksumError,
}

GO_NEGATIVE_KINDS: dict[str, type[EventStreamError]] = {
    "Prelude checksum mismatch": PreludeChecksumError,
    "Message checksum mismatch": MessageChecksumError,
}


def go_expected(name: str) -> tuple[dict[str, Any], EventStreamMessage]:
    doc = json.loads((GO / "decoded" / "positive" / name).read_text())
    headers: dict[str, HeaderValue] = {}
    for h in doc["headers"]:
        value = h["value"]
        if h["type"] == 6:
            value = base64.b64decode(value)
        elif h["type"] == 7:
            value = base64.b64decode(value).decode("utf-8")
        elif h["type"] == 9:
            value = uuid.UUID(bytes=base64.b64decode(value))
        headers[h["name"]] = value
    return doc, EventStreamMessage(headers, base64.b64decode(doc["payload"]))


def decode_all(data: bytes, chunk: int | None = None) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    step = chunk or max(1, len(data))
    messages: list[EventStreamMessage] = []
    for i in range(0, len(data), step):
        messages.extend(decoder.feed(data[i : i + step]))
    decoder.close()
    return messages


def all_valid_frames() -> list[tuple[bytes, EventStreamMessage]]:
    frames = []
    for name in GO_POSITIVE:
        frames.append(((GO / "encoded" / "positive" / name).read_bytes(), go_expected(name)[1]))
    for name, message in SMITHY_VALID.items():
        frames.append(((SMITHY / name).read_bytes(), message))
    frames.append((KIRO_REFERENCE, kiro_reference_message()))
    return frames


def kiro_reference_message() -> EventStreamMessage:
    return EventStreamMessage(
        {
            ":event-type": "assistantResponseEvent",
            ":content-type": "application/json",
            ":message-type": "event",
        },
        b'{"content":"Hi"}',
    )


def signed(n: int) -> int:
    return struct.unpack(">i", struct.pack(">I", n))[0]  # type: ignore[no-any-return]


def with_fixed_message_crc(frame: bytes) -> bytes:
    total = struct.unpack_from(">I", frame)[0]
    body = frame[: total - 4]
    return body + struct.pack(">I", zlib.crc32(body))


# --------------------------------------------------------------------------- vectors


def test_vector_files_copied() -> None:
    assert (DATA / "README.md").is_file()
    assert len(GO_POSITIVE) == 5
    assert len(GO_NEGATIVE) == 4
    assert set(SMITHY_VALID) | set(SMITHY_INVALID) == {p.name for p in SMITHY.iterdir()}


@pytest.mark.parametrize("name", GO_POSITIVE)
def test_go_positive(name: str) -> None:
    raw = (GO / "encoded" / "positive" / name).read_bytes()
    doc, expected = go_expected(name)
    # The JSON's framing numbers describe the file (CRCs as signed int32).
    total, headers_len, prelude_crc = struct.unpack_from(">III", raw)
    assert (total, headers_len, signed(prelude_crc)) == (
        doc["total_length"],
        doc["headers_length"],
        doc["prelude_crc"],
    )
    assert signed(struct.unpack_from(">I", raw, total - 4)[0]) == doc["message_crc"]
    assert decode_all(raw) == [expected]


@pytest.mark.parametrize("name", GO_NEGATIVE)
def test_go_negative(name: str) -> None:
    raw = (GO / "encoded" / "negative" / name).read_bytes()
    kind = GO_NEGATIVE_KINDS[(GO / "decoded" / "negative" / name).read_text().strip()]
    with pytest.raises(kind):
        EventStreamDecoder().feed(raw)


def test_corrupted_length_fails_at_prelude_not_stalls() -> None:
    raw = (GO / "encoded" / "negative" / "corrupted_length").read_bytes()
    decoder = EventStreamDecoder()
    assert decoder.feed(raw[:11]) == []
    with pytest.raises(PreludeChecksumError):
        decoder.feed(raw[11:12])


@pytest.mark.parametrize("name", sorted(SMITHY_VALID))
def test_smithy_valid(name: str) -> None:
    assert decode_all((SMITHY / name).read_bytes()) == [SMITHY_VALID[name]]


@pytest.mark.parametrize("name", sorted(SMITHY_INVALID))
def test_smithy_invalid(name: str) -> None:
    with pytest.raises(SMITHY_INVALID[name]):
        EventStreamDecoder().feed((SMITHY / name).read_bytes())


@pytest.mark.parametrize(
    "name",
    [
        "invalid_header_value_type",
        "invalid_header_name_length",
        "invalid_header_string_value_length",
        "invalid_header_string_length_cut_off",
        "invalid_header_name_length_too_long",
    ],
)
def test_smithy_header_defects_reach_the_header_parser(name: str) -> None:
    # With the message CRC repaired, the strict header parser must catch each defect.
    raw = with_fixed_message_crc((SMITHY / name).read_bytes())
    with pytest.raises(HeaderError):
        EventStreamDecoder().feed(raw)


def test_kiro_reference_frame() -> None:
    assert len(KIRO_REFERENCE) == 124
    assert decode_all(KIRO_REFERENCE) == [kiro_reference_message()]
    assert encode_message(kiro_reference_message().headers, b'{"content":"Hi"}') == KIRO_REFERENCE


def test_kiro_exception_frame_layout() -> None:
    # kiro.md §10 S6: 178 bytes, prelude 000000b2 00000061 3590d5d3.
    headers: dict[str, HeaderValue] = {
        ":exception-type": "ThrottlingException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    payload = b'{"message":"Too many requests, please wait before trying again."}'
    frame = encode_message(headers, payload)
    assert len(frame) == 178
    assert frame[:12].hex() == "000000b2000000613590d5d3"
    assert decode_all(frame) == [EventStreamMessage(headers, payload)]


def test_feed_accepts_reused_bytearray() -> None:
    decoder = EventStreamDecoder()
    scratch = bytearray(KIRO_REFERENCE[:70])
    assert decoder.feed(scratch) == []
    scratch[:] = b"\x00" * 70  # the caller reuses its buffer
    assert decoder.feed(memoryview(KIRO_REFERENCE)[70:]) == [kiro_reference_message()]


# --------------------------------------------------------------------------- framing


def test_every_strict_prefix_needs_more_data() -> None:
    for frame, _ in all_valid_frames():
        for i in range(1, len(frame)):
            decoder = EventStreamDecoder()
            assert decoder.feed(frame[:i]) == []
            with pytest.raises(TruncatedStreamError):
                decoder.close()
            # Fed the rest, the same decoder completes the frame.
            fresh = EventStreamDecoder()
            assert fresh.feed(frame[:i]) == []
            assert len(fresh.feed(frame[i:])) == 1


def test_concatenated_frames_in_every_chunk_size() -> None:
    frames = all_valid_frames()
    stream = b"".join(f for f, _ in frames)
    expected = [m for _, m in frames]
    for chunk in range(1, 65):
        assert decode_all(stream, chunk) == expected, chunk


def test_empty_stream_closes_cleanly() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"") == []
    decoder.close()


def test_messages_come_out_as_soon_as_complete() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(KIRO_REFERENCE + KIRO_REFERENCE[:20]) == [kiro_reference_message()]
    assert decoder.feed(KIRO_REFERENCE[20:]) == [kiro_reference_message()]
    decoder.close()


def test_too_long_frame_rejected_right_after_prelude() -> None:
    decoder = EventStreamDecoder(max_message_size=1024)
    prelude = struct.pack(">II", 1025, 0)
    with pytest.raises(MessageLengthError):
        decoder.feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_default_max_is_16_mib() -> None:
    prelude = struct.pack(">II", 16 * 1024 * 1024 + 1, 0)
    with pytest.raises(MessageLengthError):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


@pytest.mark.parametrize("total", [0, 15])
def test_too_short_frame_rejected(total: int) -> None:
    prelude = struct.pack(">II", total, 0)
    with pytest.raises(MessageLengthError):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_headers_length_beyond_frame_rejected() -> None:
    prelude = struct.pack(">II", 40, 0xFF000102)
    with pytest.raises(MessageLengthError):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_errors_are_sticky() -> None:
    decoder = EventStreamDecoder()
    bad = bytearray(KIRO_REFERENCE)
    bad[-10] ^= 1
    with pytest.raises(MessageChecksumError):
        decoder.feed(bytes(bad))
    with pytest.raises(MessageChecksumError):
        decoder.feed(KIRO_REFERENCE)
    with pytest.raises(MessageChecksumError):
        decoder.close()


def test_good_frames_before_a_bad_one_in_the_same_read_are_delivered() -> None:
    decoder = EventStreamDecoder()
    bad = bytearray(KIRO_REFERENCE)
    bad[-10] ^= 1
    messages = decoder.feed(KIRO_REFERENCE + KIRO_REFERENCE + bytes(bad))
    assert len(messages) == 2
    assert messages[0].payload == b'{"content":"Hi"}'
    with pytest.raises(MessageChecksumError):
        decoder.feed(b"")
    with pytest.raises(MessageChecksumError):
        decoder.close()


def test_large_frame_in_small_chunks() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB
    frame = encode_message({":event-type": "big"}, payload)
    assert decode_all(frame, 4096) == [EventStreamMessage({":event-type": "big"}, payload)]


def test_buffer_holds_at_most_one_frame() -> None:
    decoder = EventStreamDecoder()
    for _ in range(1000):
        decoder.feed(KIRO_REFERENCE[:50])
        decoder.feed(KIRO_REFERENCE[50:])
    assert len(decoder._buf) == 0
    decoder.feed(KIRO_REFERENCE * 3 + KIRO_REFERENCE[:100])
    assert len(decoder._buf) == 100


# --------------------------------------------------------------------------- headers


def frame_with_headers(raw_headers: bytes, payload: bytes = b"") -> bytes:
    total = 16 + len(raw_headers) + len(payload)
    prelude = struct.pack(">II", total, len(raw_headers))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize(
    ("raw_headers", "why"),
    [
        (b"\x00\x00", "empty name"),
        (b"\x01a\x0a", "unknown type 10"),
        (b"\x01a\xff", "unknown type 255"),
        (b"\x01a", "no type byte"),
        (b"\x05abc", "name past end"),
        (b"\x01\xff\x00", "name not UTF-8"),
        (b"\x01a\x07\x00", "string length cut"),
        (b"\x01a\x07\x00\x05abc", "string past end"),
        (b"\x01a\x07\x00\x02\xc3\x28", "string not UTF-8"),
        (b"\x01a\x06\x00\x05ab", "bytes past end"),
        (b"\x01a\x02", "byte missing"),
        (b"\x01a\x03\x00", "int16 short"),
        (b"\x01a\x04\x00\x00\x00", "int32 short"),
        (b"\x01a\x05" + b"\x00" * 7, "int64 short"),
        (b"\x01a\x08" + b"\x00" * 7, "timestamp short"),
        (b"\x01a\x09" + b"\x00" * 15, "uuid short"),
        (b"\x01a\x00\x01a\x01", "duplicate name"),
    ],
)
def test_bad_headers(raw_headers: bytes, why: str) -> None:
    with pytest.raises(HeaderError):
        EventStreamDecoder().feed(frame_with_headers(raw_headers, b"{}"))


def test_encoder_round_trips_every_type() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    headers: dict[str, HeaderValue | TypedHeaderValue | datetime] = {
        "t": True,
        "f": False,
        "b": TypedHeaderValue(2, -128),
        "s": TypedHeaderValue(3, -32768),
        "i": 2**31 - 1,
        "l": -(2**63),
        "raw": b"\x00\xff",
        "str": "h\u00e9llo \U0001f600",
        "ts": when,
        "ts2": TypedHeaderValue(8, -1),
        "u": uuid.UUID(int=12345),
    }
    (message,) = decode_all(encode_message(headers, b"\x00payload\xff"))
    assert message.payload == b"\x00payload\xff"
    assert message.headers == {
        "t": True,
        "f": False,
        "b": -128,
        "s": -32768,
        "i": 2**31 - 1,
        "l": -(2**63),
        "raw": b"\x00\xff",
        "str": "h\u00e9llo \U0001f600",
        "ts": int(when.timestamp() * 1000),
        "ts2": -1,
        "u": uuid.UUID(int=12345),
    }


def test_many_distinct_header_sections() -> None:
    # More distinct sections than the decoder caches, interleaved with repeated ones.
    expected = []
    for i in range(200):
        expected.append(EventStreamMessage({":event-type": "e", "n": i}, b"x"))
        expected.append(kiro_reference_message())
    stream = b"".join(encode_message(m.headers, m.payload) for m in expected)
    assert decode_all(stream, 4096) == expected


def test_header_dicts_are_independent() -> None:
    decoder = EventStreamDecoder()
    first, second = decoder.feed(KIRO_REFERENCE * 2)
    first.headers["x"] = 1
    assert "x" not in second.headers


# --------------------------------------------------------------------------- properties

_header_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.uuids(),
)
_messages = st.tuples(
    st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda s: len(s.encode()) <= 255),
        _header_values,
        max_size=6,
    ),
    st.binary(max_size=200),
)


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_messages, min_size=1, max_size=5), chunk=st.integers(1, 300))
def test_roundtrip_random_messages(
    messages: list[tuple[dict[str, HeaderValue], bytes]], chunk: int
) -> None:
    stream = b"".join(encode_message(h, p) for h, p in messages)
    assert decode_all(stream, chunk) == [EventStreamMessage(h, p) for h, p in messages]


@settings(max_examples=300, deadline=None)
@given(
    frame=st.sampled_from([f for f, _ in all_valid_frames()]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    cut=st.integers(0, 10_000),
    chunk=st.integers(1, 64),
)
def test_corruption_raises_only_eventstream_errors(
    frame: bytes, flips: list[tuple[int, int]], cut: int, chunk: int
) -> None:
    data = bytearray(frame)
    for index, mask in flips:
        data[index % len(data)] ^= mask
    data = data[: cut % (len(data) + 1)]
    try:
        decode_all(bytes(data), chunk)
    except EventStreamError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), fix_crcs=st.booleans())
def test_random_bytes_raise_only_eventstream_errors(data: bytes, fix_crcs: bool) -> None:
    if fix_crcs and len(data) >= 16:
        # Make the CRCs right so random headers reach the strict parser.
        total = min(len(data), 16 + (data[7] if len(data) > 7 else 0))
        headers_len = min(data[0] % 64, total - 16)
        data = frame_with_headers(data[16 : 16 + headers_len], data[16 + headers_len : total])
    try:
        decode_all(data, 7)
    except EventStreamError:
        pass
