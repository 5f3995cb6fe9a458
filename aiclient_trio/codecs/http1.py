# Sans-I/O HTTP/1.1 for the upstream client: request heads out, responses parsed in.
# No sockets and no Trio here, like the other codecs; `providers/transport.py` does the I/O.
"""A small HTTP/1.1 client codec, in the spirit of h11 but only what an API client needs.

`render_head()` turns a method, target and headers into request head bytes (refusing header
injection). `ResponseParser` takes the bytes a connection receives, in any split, and returns
events: one `Head`, then body `bytes` as they arrive (partial chunks are passed on at once, so
a stream is never held back), then `END`. Bodies may be framed by Content-Length, chunked
transfer coding, or the connection's close; 1xx interim answers are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["END", "Head", "ProtocolError", "ResponseParser", "render_head"]

MAX_HEAD_BYTES: Final = 64 * 1024
_MAX_CHUNK_LINE: Final = 1024


class ProtocolError(ValueError):
    """The peer broke HTTP/1.1 framing; the connection cannot be used any more."""


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = _End()


@dataclass(frozen=True, slots=True)
class Head:
    """A response's status line and headers (names lower-cased; repeats joined by ", ")."""

    status: int
    reason: str
    headers: dict[str, str]
    keep_alive: bool


Event = Head | bytes | _End

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _CLOSE, _DONE = range(8)


def _check(text: str, what: str) -> str:
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"HTTP {what} {text[:40]!r} contains a line break or NUL")
    return text


def render_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and headers, ending with the blank line."""
    lines = [f"{_check(method, 'method')} {_check(target, 'target')} HTTP/1.1"]
    for name, value in headers:
        if not name or ":" in name or " " in name:
            raise ValueError(f"invalid HTTP header name {name[:40]!r}")
        lines.append(f"{_check(name, 'header name')}: {_check(value, 'header value')}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


_WHITESPACE: Final = " \t"


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() alone also takes "²", which int() then refuses."""
    return text.isascii() and text.isdigit()


def _parse_head(block: bytes) -> Head:
    lines = block.decode("latin-1").split("\r\n")
    status_line = lines[0]
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not _digits(code):
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    key = ""
    for line in lines[1:]:
        if key and line.startswith((" ", "\t")):
            # obs-fold (RFC 9112 5.2): a user agent reads it as one space.
            headers[key] = f"{headers[key]} {line.strip(_WHITESPACE)}"
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip(_WHITESPACE)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked to keep it.
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    if "transfer-encoding" in headers and (version != "HTTP/1.1" or "content-length" in headers):
        keep_alive = False  # RFC 9112 6.1, 6.3: framing faulty or suspect; close after it
    return Head(int(code), reason, headers, keep_alive)


class ResponseParser:
    """One response on a connection: feed received bytes, get events back."""

    __slots__ = ("_buf", "_remaining", "_state", "head", "no_body")

    def __init__(self, *, no_body: bool = False) -> None:
        self._buf = b""
        self._state = _HEAD
        self._remaining = 0
        self.no_body = no_body  # the answer to HEAD has headers only
        self.head: Head | None = None

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def reusable(self) -> bool:
        """Whether the connection may carry another request after this response (not if the
        server sent more than the response: the rest would be read as the next answer)."""
        head = self.head
        return self._state == _DONE and head is not None and head.keep_alive and not self._buf

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by `data` (which may be empty)."""
        state = self._state
        # The hot case: body bytes of a known length, nothing buffered.
        if state == _LENGTH and not self._buf:
            if len(data) < self._remaining:
                self._remaining -= len(data)
                return [data] if data else []
        elif state == _CLOSE:
            return [data] if data else []
        self._buf = self._buf + data if self._buf else data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def feed_eof(self) -> list[Event]:
        """The peer closed the connection: the end of a close-delimited body, else an error."""
        if self._state == _CLOSE:
            self._state = _DONE
            return [END]
        if self._state == _DONE:
            return []
        if self._state == _HEAD and not self._buf:
            raise ProtocolError("the server closed the connection without answering")
        raise ProtocolError("the server closed the connection in the middle of its answer")

    # -- state machine --------------------------------------------------------------------------

    def _step(self, events: list[Event]) -> bool:
        state, buf = self._state, self._buf
        if state == _HEAD:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise ProtocolError("response head larger than 64 KiB")
                return False
            head = _parse_head(buf[:end])
            self._buf = buf[end + 4 :]
            if 100 <= head.status < 200:
                if head.status == 101:
                    raise ProtocolError("unexpected protocol switch (101)")
                return True  # an interim answer; the real one follows
            head = self._start_body(head)
            self.head = head
            events.append(head)
            if self._state == _DONE:
                events.append(END)
                return False
            return True
        if state == _LENGTH:
            if buf and self._body_piece(events, buf):
                self._finish(events)
            return False
        if state == _CHUNK_SIZE:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > _MAX_CHUNK_LINE:
                    raise ProtocolError("chunk size line too long")
                return False
            size_text = buf[:end].split(b";", 1)[0].strip()
            # Hex digits only: int() would also take "_", "+", "-" and a "0x" prefix.
            if not size_text.isalnum() or size_text.startswith((b"0x", b"0X")):
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            self._buf = buf[end + 2 :]
            if size == 0:
                self._state = _TRAILERS
            else:
                self._state, self._remaining = _CHUNK_DATA, size
            return True
        if state == _CHUNK_DATA:
            if not buf or not self._body_piece(events, buf):
                return False
            self._state = _CHUNK_CRLF
            return True
        if state == _CHUNK_CRLF:
            if len(buf) < 2:
                return False
            if buf[:2] != b"\r\n":
                raise ProtocolError("chunk data not followed by CRLF")
            self._buf = buf[2:]
            self._state = _CHUNK_SIZE
            return True
        if state == _TRAILERS:
            if buf.startswith(b"\r\n"):
                self._buf = buf[2:]
                self._finish(events)
                return False
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise ProtocolError("trailers larger than 64 KiB")
                return False
            self._buf = buf[end + 4 :]
            self._finish(events)
            return False
        if state == _CLOSE:
            if buf:
                events.append(buf)
                self._buf = b""
            return False
        return False  # _DONE: anything more is the server's problem, not this response's

    def _body_piece(self, events: list[Event], buf: bytes) -> bool:
        """Pass on body bytes up to the count still expected; True once it is reached."""
        if len(buf) < self._remaining:
            self._remaining -= len(buf)
            events.append(buf)
            self._buf = b""
            return False
        events.append(buf[: self._remaining])
        self._buf = buf[self._remaining :]
        return True

    def _start_body(self, head: Head) -> Head:
        """Pick the body framing; returns the head (not reusable if the body ends by close)."""
        headers = head.headers
        if self.no_body or head.status in (204, 304):
            self._state = _DONE
            return head
        coding = headers.get("transfer-encoding")
        if coding is not None:
            # Only chunked alone: other codings (gzip, chunked) would pass on undecoded.
            if coding.strip(" \t").lower() != "chunked":
                raise ProtocolError(f"unsupported transfer-encoding {coding[:40]!r}")
            self._state = _CHUNK_SIZE
            return head
        length = headers.get("content-length")
        if length is not None:
            values = {v.strip() for v in length.split(",")}
            if len(values) != 1 or not _digits(next(iter(values))):
                raise ProtocolError(f"bad content-length {length[:40]!r}")
            self._remaining = int(values.pop())
            self._state = _LENGTH if self._remaining else _DONE
            return head
        self._state = _CLOSE
        return Head(head.status, head.reason, head.headers, keep_alive=False)

    def _finish(self, events: list[Event]) -> None:
        self._state = _DONE
        events.append(END)
