"""The Kiro simulator's own AWS event-stream frame encoder (kiro.md section 7).

Deliberately independent of `aiclient_trio.codecs`: if the gateway's decoder and this encoder
shared code, one bug could hide on both sides. Strings only, which is all the service sends.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

__all__ = ["encode_error", "encode_event", "encode_exception", "encode_frame"]


def _string_header(name: str, value: str) -> bytes:
    raw_name = name.encode()
    raw_value = value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + b"\x07"
        + struct.pack(">H", len(raw_value))
        + raw_value
    )


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One frame: prelude (lengths + CRC), string headers, payload, message CRC."""
    raw_headers = b"".join(_string_header(name, value) for name, value in headers)
    total = 16 + len(raw_headers) + len(payload)
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def encode_event(event_type: str, payload: Any) -> bytes:
    return encode_frame(
        [
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        _json(payload),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        _json({"message": message}),
    )


def encode_error(code: str, message: str) -> bytes:
    return encode_frame(
        [(":error-code", code), (":error-message", message), (":message-type", "error")], b""
    )
