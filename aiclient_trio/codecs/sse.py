"""Server-sent events: an incremental sans-I/O decoder and a small encoder.

Lines are split with `bytes.splitlines` on the buffer (no per-byte Python loop); memory is
bounded by the longest allowed line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_LINE",
    "SSEDecoder",
    "SSEError",
    "SSEEvent",
    "encode_comment",
    "encode_event",
]

DEFAULT_MAX_LINE = 16 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_NEWLINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: `data` is the `data:` lines joined with "\\n"."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEError(ValueError):
    """The stream broke a limit of the decoder (a line longer than `max_line`)."""


class SSEDecoder:
    """Feed raw bytes, get complete events.

    Follows the WHATWG event-stream parsing rules with these choices: `id` is the id
    field of the event itself (not a persistent "last event id"); an empty `event:` value
    means no name (None); invalid UTF-8 is replaced, never raised. `close()` dispatches a
    pending event whose last line was complete (some upstreams omit the final blank
    line) and drops the whole pending event if the stream ends inside a line.
    """

    __slots__ = (
        "_data",
        "_event",
        "_id",
        "_max_line",
        "_pending",
        "_pending_len",
        "_skip_lf",
        "_started",
    )

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._max_line = max_line
        self._pending: list[bytes] = []  # pieces of an incomplete line (no line end yet)
        self._pending_len = 0
        self._skip_lf = False  # the last chunk ended in "\r": a leading "\n" belongs to it
        self._started = False  # the optional leading BOM has been dealt with
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: bytes | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[SSEEvent]:
        if not data:
            return []
        if not isinstance(data, bytes):
            data = bytes(data)  # pieces are kept: a caller's bytearray may change under us
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
                if not data:
                    return []
        if b"\n" not in data and b"\r" not in data:
            # No line ends: just remember the piece (a list, so a long line is O(n)).
            self._pending.append(data)
            self._pending_len += len(data)
            if self._pending_len > self._max_line:
                self._pending, self._pending_len = [], 0
                self._reset()
                raise SSEError(f"SSE line longer than {self._max_line} bytes")
            return []
        if self._pending:
            self._pending.append(data)
            buf = b"".join(self._pending)
            self._pending, self._pending_len = [], 0
        else:
            buf = data
        if not self._started:
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        lines = buf.splitlines(keepends=True)
        if lines[-1][-1:] not in (b"\n", b"\r"):
            tail = lines.pop()
            self._pending, self._pending_len = [tail], len(tail)
        elif buf[-1:] == b"\r":
            self._skip_lf = True
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        if self._pending_len > self._max_line:
            self._pending, self._pending_len = [], 0
            self._reset()
            raise SSEError(f"SSE line longer than {self._max_line} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: dispatch a pending event whose last line was complete."""
        events: list[SSEEvent] = []
        if self._pending:
            # Truncated inside a line: the pending event is incomplete, drop it.
            self._reset()
        elif self._data:
            self._dispatch(events)
        self._pending, self._pending_len = [], 0
        self._skip_lf = False
        return events

    # ------------------------------------------------------------------ internals

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        # `line` still carries its ending ("\n", "\r\n" or "\r").
        if line[-1:] == b"\n":
            line = line[:-2] if line[-2:-1] == b"\r" else line[:-1]
        else:
            line = line[:-1]
        if len(line) > self._max_line:
            self._reset()
            raise SSEError(f"SSE line longer than {self._max_line} bytes")
        if not line:
            self._dispatch(events)
            return
        colon = line.find(b":")
        if colon == 0:
            return  # comment
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id" and b"\x00" not in value:
            self._id = value
        # `retry` and unknown fields are ignored.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            events.append(
                SSEEvent(
                    data.decode("utf-8", "replace"),
                    self._event.decode("utf-8", "replace") if self._event else None,
                    self._id.decode("utf-8", "replace") if self._id is not None else None,
                )
            )
        self._reset()

    def _reset(self) -> None:
        self._data = []
        self._event = None
        self._id = None


def encode_event(data: str, event: str | None = None, id: str | None = None) -> bytes:
    """One event as wire bytes. Line breaks in `data` become several `data:` lines
    (so "\\r\\n" and "\\r" read back as "\\n")."""
    head = ""
    if event is not None:
        if _NEWLINES.search(event):
            raise ValueError("an SSE event name cannot contain a line break")
        head = f"event: {event}\n"
    if id is not None:
        if _NEWLINES.search(id) or "\x00" in id:
            raise ValueError("an SSE id cannot contain a line break or NUL")
        head += f"id: {id}\n"
    if "\n" in data or "\r" in data:
        body = "".join(f"data: {line}\n" for line in _NEWLINES.split(data))
    else:
        body = f"data: {data}\n"
    # A lone surrogate an upstream sent cannot be UTF-8: it becomes "?" rather than an error.
    return f"{head}{body}\n".encode("utf-8", "replace")


def encode_comment(text: str = "") -> bytes:
    """A comment (ignored by readers; used as keep-alive), one `:` line per text line."""
    return ("".join(f": {line}\n" for line in _NEWLINES.split(text)) + "\n").encode(
        "utf-8", "replace"
    )
