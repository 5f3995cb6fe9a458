"""AWS event-stream (application/vnd.amazon.eventstream): sans-I/O decoder and small encoder.

Checks run in a fixed order (prelude CRC at 12 bytes, lengths, message CRC, headers) and
memory stays proportional to one frame: partial frames wait in one bytearray.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "DEFAULT_MAX_HEADERS_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "HeaderError",
    "HeaderValue",
    "MessageChecksumError",
    "MessageLengthError",
    "PreludeChecksumError",
    "TruncatedStreamError",
    "TypedHeaderValue",
    "encode_message",
]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
DEFAULT_MAX_HEADERS_SIZE = 128 * 1024
_PRELUDE = 12
_MIN_FRAME = 16

# Decoded header values. Timestamps (type 8) are returned as int milliseconds since the
# epoch (always representable, unlike datetime), so they look like int64 headers.
HeaderValue = bool | int | bytes | str | uuid.UUID

_prelude = struct.Struct(">III")
_u32 = struct.Struct(">I")
_i8 = struct.Struct(">b")
_i16 = struct.Struct(">h")
_i32 = struct.Struct(">i")
_i64 = struct.Struct(">q")
_crc32 = zlib.crc32


class EventStreamError(ValueError):
    """The byte stream is not a valid event stream; the stream cannot continue."""


class PreludeChecksumError(EventStreamError):
    """The CRC-32 of the first 8 bytes does not match the prelude CRC."""


class MessageChecksumError(EventStreamError):
    """The CRC-32 of the frame does not match its trailing message CRC."""


class MessageLengthError(EventStreamError):
    """total_length or headers_length is out of bounds."""


class HeaderError(EventStreamError):
    """The headers section is malformed (bad type, length, UTF-8 or duplicate name)."""


class TruncatedStreamError(EventStreamError):
    """The stream ended inside a frame."""


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    """One frame: header name -> value (timestamps as int ms since the epoch), payload."""

    headers: dict[str, HeaderValue]
    payload: bytes


class EventStreamDecoder:
    """Feed bytes, get complete messages; `close()` at end of body.

    The first error is fatal: later calls raise it again (no resynchronisation).
    """

    __slots__ = ("_buf", "_cache", "_error", "_max_headers", "_max_message", "_need")

    def __init__(
        self,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_headers_size: int = DEFAULT_MAX_HEADERS_SIZE,
    ) -> None:
        self._max_message = max_message_size
        self._max_headers = max_headers_size
        # Bytes of the frame in progress (never more than one frame's worth).
        self._buf = bytearray()
        # How many buffered bytes the next step needs: 12 for a prelude, then the frame.
        self._need = _PRELUDE
        self._error: EventStreamError | None = None
        # Parsed header sections by their bytes (None once caching stopped paying off).
        self._cache: dict[bytes, dict[str, HeaderValue]] | None = {}

    def feed(self, data: bytes | bytearray | memoryview) -> list[EventStreamMessage]:
        if self._error is not None:
            raise self._error
        if not isinstance(data, bytes):
            data = bytes(data)  # a caller's bytearray/memoryview may change under us
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []  # amortised O(1) append while a large frame arrives
            data = bytes(buf)
            buf.clear()
        elif len(data) < self._need:
            buf += data
            return []
        try:
            messages, pos = self._decode(data)
        except EventStreamError as exc:
            self._error = exc
            raise
        if pos < len(data):
            buf += memoryview(data)[pos:]
        return messages

    def close(self) -> None:
        """End of stream: raise TruncatedStreamError if a partial frame is buffered."""
        if self._error is not None:
            raise self._error
        if self._buf:
            self._error = TruncatedStreamError(
                f"event stream ended inside a frame ({len(self._buf)} bytes buffered)"
            )
            raise self._error

    def _decode(self, data: bytes) -> tuple[list[EventStreamMessage], int]:
        messages: list[EventStreamMessage] = []
        try:
            return self._decode_into(messages, data)
        except EventStreamError as exc:
            if not messages:
                raise
            # Good frames that came in the same read as a bad one are still delivered; the
            # error is raised by the next feed() or close().
            self._error = exc
            return messages, len(data)

    def _decode_into(
        self, messages: list[EventStreamMessage], data: bytes
    ) -> tuple[list[EventStreamMessage], int]:
        size = len(data)
        pos = 0
        view = memoryview(data)
        while size - pos >= _PRELUDE:
            total, headers_len, prelude_crc = _prelude.unpack_from(data, pos)
            crc = _crc32(view[pos : pos + 8])
            if crc != prelude_crc:
                raise PreludeChecksumError(
                    f"prelude checksum mismatch: frame says 0x{prelude_crc:08x}, "
                    f"computed 0x{crc:08x}"
                )
            if total < _MIN_FRAME or total > self._max_message:
                raise MessageLengthError(
                    f"total_length {total} outside [{_MIN_FRAME}, {self._max_message}]"
                )
            if headers_len > total - _MIN_FRAME or headers_len > self._max_headers:
                raise MessageLengthError(
                    f"headers_length {headers_len} exceeds "
                    f"{min(total - _MIN_FRAME, self._max_headers)}"
                )
            end = pos + total
            if end > size:
                self._need = total
                return messages, pos
            (message_crc,) = _u32.unpack_from(data, end - 4)
            crc = _crc32(view[pos + 8 : end - 4], crc)
            if crc != message_crc:
                raise MessageChecksumError(
                    f"message checksum mismatch: frame says 0x{message_crc:08x}, "
                    f"computed 0x{crc:08x}"
                )
            start = pos + _PRELUDE
            payload_start = start + headers_len
            if not headers_len:
                headers = {}
            elif self._cache is None:
                headers = _parse_headers(data[start:payload_start])
            else:
                raw = data[start:payload_start]
                cached = self._cache.get(raw)
                if cached is None:
                    cached = _parse_headers(raw)
                    if len(self._cache) < _HEADER_CACHE_SIZE:
                        self._cache[raw] = cached
                    else:
                        self._cache = None  # this stream's headers do not repeat
                headers = dict(cached)
            messages.append(EventStreamMessage(headers, data[payload_start : end - 4]))
            pos = end
        self._need = _PRELUDE
        return messages, pos


# Kiro repeats a handful of header sections (one per event type): parsing each distinct
# section once keeps the per-frame cost to a dict lookup and copy. A stream with more
# distinct sections than this stops caching.
_HEADER_CACHE_SIZE = 64

# Struct per fixed-size value type (index = type byte; 6 and 7 are length-prefixed).
_FIXED = (_i8, _i8, _i8, _i16, _i32, _i64, _i8, _i8, _i64, struct.Struct("16s"))


def _parse_headers(raw: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    count = 0
    end = len(raw)
    p = 0
    while p < end:
        name_len = raw[p]
        p += 1
        q = p + name_len
        if q >= end or not name_len:  # a name and at least the type byte must fit
            raise HeaderError("header name empty or past the end of the headers section")
        try:
            name = raw[p:q].decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderError("header name is not valid UTF-8") from None
        kind = raw[q]
        p = q + 1
        value: HeaderValue
        if kind == 7 or kind == 6:  # string (every Kiro header) or bytes: length-prefixed
            if p + 2 > end:
                raise HeaderError(f"header {name!r}: value length runs past the headers section")
            q = p + 2 + ((raw[p] << 8) | raw[p + 1])
            if q > end:
                raise HeaderError(f"header {name!r}: value runs past the headers section")
            value = raw[p + 2 : q]
            if kind == 7:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise HeaderError(f"header {name!r}: string is not valid UTF-8") from None
            p = q
        elif kind == 0:
            value = True
        elif kind == 1:
            value = False
        elif 2 <= kind <= 9:
            fixed = _FIXED[kind]
            q = p + fixed.size
            if q > end:
                raise HeaderError(f"header {name!r}: value runs past the headers section")
            if kind == 9:
                value = uuid.UUID(bytes=raw[p:q])
            else:  # 8 is a timestamp: int64 milliseconds since the epoch
                (value,) = fixed.unpack_from(raw, p)
            p = q
        else:
            raise HeaderError(f"header {name!r}: unknown value type {kind}")
        headers[name] = value
        count += 1
    if len(headers) != count:
        raise HeaderError("duplicate header name")
    return headers


# --------------------------------------------------------------------------- encoder


@dataclass(frozen=True, slots=True)
class TypedHeaderValue:
    """A header value with an explicit wire type (0-9), e.g. TypedHeaderValue(2, -5)."""

    type: int
    value: HeaderValue


def _encode_value(value: HeaderValue | TypedHeaderValue | datetime) -> bytes:
    if isinstance(value, TypedHeaderValue):
        kind, v = value.type, value.value
    elif isinstance(value, bool):
        return b"\x00" if value else b"\x01"
    elif isinstance(value, int):
        kind, v = (4 if -(2**31) <= value < 2**31 else 5), value
    elif isinstance(value, bytes):
        kind, v = 6, value
    elif isinstance(value, str):
        kind, v = 7, value
    elif isinstance(value, uuid.UUID):
        kind, v = 9, value
    elif isinstance(value, datetime):
        kind, v = 8, int(value.timestamp() * 1000)
    else:
        raise TypeError(f"unsupported header value {value!r}")
    if kind in (0, 1):
        return bytes([kind])
    if kind in (6, 7):
        raw = v.encode("utf-8") if isinstance(v, str) else v
        if not isinstance(raw, bytes) or len(raw) > 0xFFFF:
            raise ValueError("byte/string header value must be at most 65535 bytes")
        return bytes([kind]) + len(raw).to_bytes(2, "big") + raw
    if kind == 9:
        if not isinstance(v, uuid.UUID):
            raise TypeError("uuid header needs a uuid.UUID")
        return b"\x09" + v.bytes
    packer = {2: _i8, 3: _i16, 4: _i32, 5: _i64, 8: _i64}.get(kind)
    if packer is None or not isinstance(v, int):
        raise ValueError(f"cannot encode {v!r} as header type {kind}")
    return bytes([kind]) + packer.pack(v)


def encode_message(
    headers: Mapping[str, HeaderValue | TypedHeaderValue | datetime], payload: bytes
) -> bytes:
    """One frame. Python types choose the wire type: bool 0/1, int 4 (5 if it needs 64
    bits), bytes 6, str 7, datetime 8, uuid.UUID 9; TypedHeaderValue picks it explicitly."""
    parts = []
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if not 1 <= len(raw_name) <= 255:
            raise ValueError("header names must be 1-255 bytes")
        parts.append(bytes([len(raw_name)]) + raw_name + _encode_value(value))
    head = b"".join(parts)
    total = _MIN_FRAME + len(head) + len(payload)
    prelude = struct.pack(">II", total, len(head))
    prelude += _u32.pack(_crc32(prelude))
    body = prelude + head + payload
    return body + _u32.pack(_crc32(body))
