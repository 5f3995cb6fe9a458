"""`Pool.open()` sends one request and returns an `UpstreamResponse` once the status line and
headers have arrived; its body is read with `aiter_raw()` (each socket read is one chunk, never
held back) or `aread()`, and `aclose()` ends the call at once (an unfinished response closes
its connection, so the upstream sees the client leave).

Keep-alive HTTP/1.1 connections on Trio sockets, framed by h11, pooled per origin (LIFO, idle
ones expire). Proxies come from the environment once, when the pool is made (`Proxies`):
`https://` targets through a CONNECT tunnel, `http://` targets in absolute form. Failures raise
httpx's exception classes (`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `WriteTimeout`,
`PoolTimeout`, `ReadError`, `RemoteProtocolError`, `LocalProtocolError`, `ProxyError`,
`DecodingError`), the same whether a caller uses the pool directly or through httpx
(`upstream.transport.PoolTransport`). TLS uses httpx's certificate store and settings.
"""

from __future__ import annotations

import functools
import select
import ssl
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import h11
import httpx
import trio

from aiclient_trio.upstream.proxy import Proxies, ProxyURL

__all__ = ["Headers", "Pool", "Response", "Timeouts", "UpstreamResponse"]

_READ_SIZE = 65536
# Set by the pool itself (the body is always sent whole, with its length).
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})

# (scheme, host, port, proxy or None): connections are pooled per key.
Origin = tuple[str, str, int, ProxyURL | None]


class Response(Protocol):
    """What callers use of an upstream response (httpx.Response has it too)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def aiter_raw(self) -> AsyncIterator[bytes]: ...
    async def aread(self) -> bytes: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds for connect (+TLS, +proxy tunnel), each write, each read and the pool wait."""

    connect: float
    read: float
    write: float
    pool: float


class Headers(dict[str, str]):
    """Response headers: lower-case names (repeats joined by ", "), looked up in any case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


def _header_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


@functools.lru_cache(maxsize=256)
def _split(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, request target, Host header) of an absolute http(s) URL."""
    parts = httpx.URL(url)
    scheme = parts.scheme
    if scheme not in ("http", "https") or not parts.host:
        raise httpx.UnsupportedProtocol(f"cannot call {scheme or 'a relative'} URL {url!r}")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.host
    host_header = host if ":" not in host else f"[{host}]"
    if port != default:
        host_header = f"{host_header}:{port}"
    target = parts.raw_path.decode("ascii") or "/"
    return scheme, host, port, target, host_header


class _Connection:
    __slots__ = ("fd", "h11", "idle_since", "origin", "stream")

    def __init__(self, origin: Origin, stream: trio.abc.Stream, fd: int) -> None:
        self.origin, self.stream, self.fd = origin, stream, fd
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def close(self) -> None:
        """Close now, without a checkpoint (safe in cancelled and finally paths)."""
        stream = self.stream
        while isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        if isinstance(stream, trio.SocketStream):
            stream.socket.close()

    def looks_dead(self) -> bool:
        """An idle connection with something to read has been closed by the server."""
        try:
            poller = select.poll()  # not select(): it refuses descriptors from 1024 on
            poller.register(self.fd, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE


class UpstreamResponse:
    """One response being received; holds its connection until the body ends or aclose()."""

    def __init__(
        self,
        pool: Pool,
        conn: _Connection,
        head: h11.Response,
        early: list[bytes],
        ended: bool,
        read_timeout: float,
    ) -> None:
        self._pool, self._conn, self._read_timeout = pool, conn, read_timeout
        self.status_code: int = head.status_code
        self.reason_phrase = head.reason.decode("latin-1")
        headers = Headers()
        for name, value in head.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        self._pending: list[bytes] = early
        self._ended = False
        self._closed = False
        self._inflate: Any = None
        coding = self.headers.get("content-encoding", "").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            # We never ask for compression; decode it anyway if a server sends it.
            self._inflate = zlib.decompressobj(47 if coding != "deflate" else zlib.MAX_WBITS)
            del self.headers["content-encoding"]
            self.headers.pop("content-length", None)  # the encoded length, not ours
        if ended:
            self._end()

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status_code}>"

    async def _next(self) -> bytes | None:
        """The next body bytes, or None at the end."""
        while True:
            if self._pending:
                data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
                self._pending.clear()
                if self._inflate is not None:
                    data = self._decode(self._inflate.decompress, data)
                    if not data:
                        continue
                return data
            if self._ended or self._closed:
                if self._ended and self._inflate is not None:
                    tail, self._inflate = self._decode(self._inflate.flush), None
                    if tail:
                        return bytes(tail)
                return None
            if await self._pool._receive_body(self._conn, self._pending, self._read_timeout):
                self._end()

    @staticmethod
    def _decode(step: Any, *data: bytes) -> bytes:
        """A decompressor step; a corrupt body raises httpx.DecodingError, as with httpx."""
        try:
            return bytes(step(*data))
        except zlib.error as exc:
            raise httpx.DecodingError(f"the upstream body cannot be decoded: {exc}") from None

    def _end(self) -> None:
        self._ended = True
        if not self._closed:
            self._closed = True
            self._pool._release(self._conn, reusable=self._conn.reusable)

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return _Body(self)

    async def aread(self) -> bytes:
        parts = []
        try:
            while (data := await self._next()) is not None:
                parts.append(data)
        finally:
            await self.aclose()
        return b"".join(parts)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool._release(self._conn, reusable=False)


class _Body:
    """`aiter_raw()`: a plain iterator object, so nothing is left to finalise."""

    __slots__ = ("_response",)

    def __init__(self, response: UpstreamResponse) -> None:
        self._response = response

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        data = await self._response._next()
        if data is None:
            raise StopAsyncIteration
        return data


class Pool:
    """A keep-alive pool per origin (LIFO, idle connections expire), at most `max_connections`
    calls in flight, and timeouts for connect (+TLS), each write, each read, and the pool."""

    def __init__(
        self,
        timeouts: Timeouts,
        *,
        max_connections: int = 1000,
        max_idle_per_origin: int = 100,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        proxies: Proxies | None = None,
    ) -> None:
        self.timeouts = timeouts
        self.max_idle_per_origin, self.keepalive_expiry = max_idle_per_origin, keepalive_expiry
        self.proxies = proxies if proxies is not None else Proxies.from_environ()
        self._slots = trio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._ssl_context = ssl_context
        self._closed = False

    # -- public -------------------------------------------------------------------------------

    async def open(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        content: bytes | None = None,
        timeouts: Timeouts | None = None,
    ) -> UpstreamResponse:
        """Send the request; the response once its head arrived (`timeouts` replaces the
        pool's for this call)."""
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        limits = timeouts or self.timeouts
        scheme, host, port, target, host_header = _split(url)
        proxy = self.proxies.for_url(scheme, host)
        origin: Origin = (scheme, host, port, proxy)
        fields = [(b"host", host_header.encode("ascii"))]
        names = set()
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            lower = name.lower()
            names.add(lower)
            if lower not in _OWN_HEADERS:
                fields.append((_header_bytes(name), _header_bytes(value)))
        if "accept-encoding" not in names:
            # Said outright: without the header a server may pick any coding.
            fields.append((b"accept-encoding", b"identity"))
        if content is not None or method in ("POST", "PUT", "PATCH"):
            fields.append((b"content-length", str(len(content or b"")).encode()))
        if proxy is not None and scheme == "http":
            target = url  # absolute form through a forwarding proxy
            if proxy.authorization is not None:
                fields.append((b"proxy-authorization", proxy.authorization))
        try:
            request = h11.Request(method=method, target=target, headers=fields)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        await self._take_slot(limits)
        try:
            return await self._exchange(origin, request, content, limits)
        except BaseException:
            self._slots.release()
            raise

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        await trio.lowlevel.checkpoint()

    # -- internals ----------------------------------------------------------------------------

    async def _take_slot(self, limits: Timeouts) -> None:
        try:
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            with trio.move_on_after(limits.pool):
                await self._slots.acquire()
                return
            raise httpx.PoolTimeout("no free upstream connection slot in time") from None

    async def _exchange(
        self, origin: Origin, request: h11.Request, content: bytes | None, limits: Timeouts
    ) -> UpstreamResponse:
        fresh_only = False
        while True:
            conn = None if fresh_only else self._checkout(origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, limits)
            try:
                payload = conn.h11.send(request) or b""
                if content:
                    payload += conn.h11.send(h11.Data(data=content)) or b""
                payload += conn.h11.send(h11.EndOfMessage()) or b""
            except h11.LocalProtocolError as exc:
                conn.close()
                raise httpx.LocalProtocolError(str(exc)) from None
            try:
                await self._send(conn, payload, limits)
                head, early, ended = await self._read_head(conn, limits)
            except _Stale:
                conn.close()
                if reused:
                    # The server had closed the idle connection: once more, on a new one
                    # (another pooled connection may be just as stale).
                    fresh_only = True
                    continue
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering"
                ) from None
            except BaseException:
                conn.close()
                raise
            return UpstreamResponse(self, conn, head, early, ended, limits.read)

    def _checkout(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest_allowed = trio.current_time() - self.keepalive_expiry
        while idle:
            conn = idle.pop()
            if conn.idle_since >= oldest_allowed and not conn.looks_dead():
                return conn
            conn.close()
        return None

    def _release(self, conn: _Connection, *, reusable: bool) -> None:
        self._slots.release()
        idle = self._idle.setdefault(conn.origin, [])
        if reusable and not self._closed and len(idle) < self.max_idle_per_origin:
            conn.h11.start_next_cycle()
            conn.idle_since = trio.current_time()
            idle.append(conn)
        else:
            conn.close()

    async def _connect(self, origin: Origin, limits: Timeouts) -> _Connection:
        scheme, host, port, proxy = origin
        with trio.move_on_after(limits.connect):
            if proxy is None:
                tcp = await self._open_tcp(host, port, "")
                stream: trio.abc.Stream = tcp
            else:
                tcp = await self._open_tcp(proxy.host, proxy.port, "the proxy at ")
                stream = tcp
                if proxy.scheme == "https":
                    stream = await self._tls(tcp, stream, proxy.host, proxy.port)
                if scheme == "https":
                    stream = await self._tunnel(tcp, stream, proxy, host, port)
            if scheme == "https":
                stream = await self._tls(tcp, stream, host, port)
            return _Connection(origin, stream, tcp.socket.fileno())
        where = f"{host}:{port}" if proxy is None else f"the proxy at {proxy.host}:{proxy.port}"
        raise httpx.ConnectTimeout(f"connecting to {where} took too long") from None

    @staticmethod
    async def _open_tcp(host: str, port: int, what: str) -> trio.SocketStream:
        try:
            return await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {what}{host}:{port}: {exc}") from None

    async def _tls(
        self, tcp: trio.SocketStream, stream: trio.abc.Stream, host: str, port: int
    ) -> trio.SSLStream[trio.abc.Stream]:
        tls = trio.SSLStream(
            stream, self._tls_context(), server_hostname=host, https_compatible=True
        )
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, OSError) as exc:
            tcp.socket.close()
            cause = exc.__cause__ or exc
            raise httpx.ConnectError(f"TLS with {host}:{port} failed: {cause}") from None
        except BaseException:
            tcp.socket.close()
            raise
        return tls

    async def _tunnel(
        self,
        tcp: trio.SocketStream,
        stream: trio.abc.Stream,
        proxy: ProxyURL,
        host: str,
        port: int,
    ) -> trio.abc.Stream:
        """CONNECT host:port through the proxy; the stream then carries the tunnel."""
        authority = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        fields = [(b"host", authority.encode("ascii"))]
        if proxy.authorization is not None:
            fields.append((b"proxy-authorization", proxy.authorization))
        codec = h11.Connection(h11.CLIENT)
        payload = codec.send(h11.Request(method="CONNECT", target=authority, headers=fields))
        try:
            await stream.send_all(payload or b"")
            while True:
                event = codec.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(_READ_SIZE)
                    codec.receive_data(bytes(data))
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                break
        except (trio.BrokenResourceError, OSError, h11.RemoteProtocolError) as exc:
            tcp.socket.close()
            raise httpx.ProxyError(
                f"the proxy at {proxy.host}:{proxy.port} broke off the tunnel to "
                f"{authority}: {exc or type(exc).__name__}"
            ) from None
        except BaseException:
            tcp.socket.close()
            raise
        if not isinstance(event, h11.Response) or not 200 <= event.status_code < 300:
            tcp.socket.close()
            status = getattr(event, "status_code", "no answer")
            raise httpx.ProxyError(
                f"the proxy at {proxy.host}:{proxy.port} refused to connect to {authority} "
                f"(HTTP {status}); check HTTPS_PROXY / ALL_PROXY and NO_PROXY"
            )
        return stream

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    async def _send(self, conn: _Connection, payload: bytes, limits: Timeouts) -> None:
        with trio.move_on_after(limits.write):
            try:
                await conn.stream.send_all(payload)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                raise _Stale from None
            return
        raise httpx.WriteTimeout("the upstream did not take the request in time")

    async def _read_head(
        self, conn: _Connection, limits: Timeouts
    ) -> tuple[h11.Response, list[bytes], bool]:
        """The response head, any body bytes that arrived with it, and whether it ended."""
        first = True
        while True:
            event = self._next_event(conn)
            if event is h11.NEED_DATA:
                data = await self._read(conn, limits.read)
                if not data and first:
                    raise _Stale
                first = False
                self._feed(conn, data)
                continue
            if isinstance(event, h11.Response):
                early: list[bytes] = []
                ended = self._collect(conn, early)
                return event, early, ended
            if isinstance(event, h11.ConnectionClosed):
                raise httpx.ReadError("the server closed the connection")
            # InformationalResponse (1xx): wait for the real answer.

    async def _receive_body(self, conn: _Connection, into: list[bytes], seconds: float) -> bool:
        """Read once more from the socket; body bytes go to `into`; True at the body's end."""
        if self._collect(conn, into):
            return True
        if into:
            return False
        self._feed(conn, await self._read(conn, seconds))
        return self._collect(conn, into)

    @staticmethod
    def _next_event(conn: _Connection) -> Any:
        try:
            return conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None

    def _collect(self, conn: _Connection, into: list[bytes]) -> bool:
        """Body bytes already parsed go to `into`; True once the message ended."""
        while True:
            event = self._next_event(conn)
            if event is h11.NEED_DATA:
                return False
            if not isinstance(event, h11.Data):
                # EndOfMessage or ConnectionClosed; PAUSED cannot come before EndOfMessage.
                return isinstance(event, h11.EndOfMessage | h11.ConnectionClosed)
            into.append(bytes(event.data))

    @staticmethod
    def _feed(conn: _Connection, data: bytes) -> None:
        try:
            conn.h11.receive_data(data)
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None

    @staticmethod
    async def _read(conn: _Connection, seconds: float) -> bytes:
        with trio.move_on_after(seconds):
            try:
                return bytes(await conn.stream.receive_some(_READ_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise httpx.ReadError(f"the upstream connection broke: {exc}") from None
        raise httpx.ReadTimeout("the upstream sent nothing in time")


class _Stale(Exception):
    """The connection failed before any answer arrived."""
