# The hot path's upstream HTTP client: pooled HTTP/1.1 keep-alive connections on Trio sockets.
# About 8x less CPU per call than httpx + httpcore (docs/benchmarks.md); httpx stays for the rest.
"""`UpstreamClient.open()` sends one request and returns an `UpstreamResponse` once the status
line and headers have arrived; its body is read with `aiter_raw()` (each socket read is one
chunk, never held back) or `aread()`, and `aclose()` ends the call at once (an unfinished
response closes its connection, so the upstream sees the client leave).

Failures raise httpx's exception classes (`ConnectError`, `ConnectTimeout`, `ReadTimeout`,
`WriteTimeout`, `PoolTimeout`, `ReadError`, `WriteError`, `RemoteProtocolError`,
`DecodingError`), so callers map errors one way whichever client they hold. When the
environment names a proxy (`HTTPS_PROXY`, `ALL_PROXY`, ...) `make_upstream_client()` returns
`HttpxUpstream` instead: httpx knows proxies, this client does not. TLS uses httpx's
certificate store and settings.
"""

from __future__ import annotations

import functools
import os
import select
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import trio

from aiclient_trio.codecs.http1 import END, Head, ProtocolError, ResponseParser, render_head

__all__ = [
    "HttpxUpstream",
    "Upstream",
    "UpstreamClient",
    "UpstreamResponse",
    "make_upstream_client",
    "proxy_configured",
]

_READ_SIZE = 65536
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")

Origin = tuple[str, str, int]


class Response(Protocol):
    """What callers use of an upstream response (httpx.Response has it too)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def aiter_raw(self) -> AsyncIterator[bytes]: ...
    async def aread(self) -> bytes: ...
    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Response: ...
    async def aclose(self) -> None: ...


class Headers(dict[str, str]):
    """Response headers: lower-case names, looked up in any case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


@functools.lru_cache(maxsize=256)
def _split(url: str) -> tuple[Origin, str, str]:
    """(origin, request target, Host header) of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise httpx.UnsupportedProtocol(f"cannot call {scheme or 'a relative'} URL")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    host_header = host if ":" not in host else f"[{host}]"
    if port != default:
        host_header = f"{host_header}:{port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return (scheme, host, port), target, host_header


class _Connection:
    __slots__ = ("fd", "idle_since", "origin", "stream")

    def __init__(self, origin: Origin, stream: trio.abc.Stream, fd: int) -> None:
        self.origin, self.stream, self.fd = origin, stream, fd
        self.idle_since = 0.0

    def close(self) -> None:
        """Close now, without a checkpoint (safe in cancelled and finally paths)."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
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


class UpstreamResponse:
    """One response being received; holds its connection until the body ends or aclose()."""

    def __init__(
        self,
        client: UpstreamClient,
        conn: _Connection,
        parser: ResponseParser,
        head: Head,
        early: list[Any],
    ) -> None:
        self._client, self._conn, self._parser = client, conn, parser
        self.status_code = head.status
        self.headers = Headers(head.headers)
        self._pending: list[bytes] = []
        self._ended = False
        self._closed = False
        self._inflate: Any = None
        coding = self.headers.get("content-encoding", "").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            # We never ask for compression; decode it anyway if a server sends it.
            self._inflate = zlib.decompressobj(47 if coding != "deflate" else zlib.MAX_WBITS)
            del self.headers["content-encoding"]
            self.headers.pop("content-length", None)  # the encoded length, not ours
        self._take(early)

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
            self._take(await self._client._receive(self._conn, self._parser))

    @staticmethod
    def _decode(step: Any, *data: bytes) -> bytes:
        """A decompressor step; a corrupt body raises httpx.DecodingError, as with httpx."""
        try:
            return bytes(step(*data))
        except zlib.error as exc:
            raise httpx.DecodingError(f"the upstream body cannot be decoded: {exc}") from None

    def _take(self, events: list[Any]) -> None:
        for event in events:
            if event is END:
                self._end()
            elif event:
                self._pending.append(event)

    def _end(self) -> None:
        self._ended = True
        if not self._closed:
            self._closed = True
            self._client._release(self._conn, reusable=self._parser.reusable)

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
            self._client._release(self._conn, reusable=False)


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


class UpstreamClient:
    """A keep-alive pool per origin (LIFO, idle connections expire), at most `max_connections`
    calls in flight, and timeouts for connect (+TLS), each write, each read, and the pool."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        write_timeout: float,
        pool_timeout: float,
        max_connections: int = 1000,
        max_idle_per_origin: int = 100,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.write_timeout, self.pool_timeout = write_timeout, pool_timeout
        self.max_idle_per_origin, self.keepalive_expiry = max_idle_per_origin, keepalive_expiry
        self._slots = trio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._ssl_context = ssl_context
        self._closed = False

    # -- public -------------------------------------------------------------------------------

    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        origin, target, host = _split(url)
        fields = [("host", host)]
        fields.extend(
            (k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length")
        )
        if not any(k.lower() == "accept-encoding" for k in headers):
            # Said outright: without the header a server may pick any coding.
            fields.append(("accept-encoding", "identity"))
        if content is not None or method in ("POST", "PUT", "PATCH"):
            fields.append(("content-length", str(len(content or b""))))
        try:
            payload = render_head(method, target, fields) + (content or b"")
        except ValueError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        await self._take_slot()
        try:
            return await self._exchange(origin, method, payload)
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

    async def _take_slot(self) -> None:
        try:
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            with trio.move_on_after(self.pool_timeout):
                await self._slots.acquire()
                return
            raise httpx.PoolTimeout("no free upstream connection slot in time") from None

    async def _exchange(self, origin: Origin, method: str, payload: bytes) -> UpstreamResponse:
        fresh_only = False
        while True:
            conn = None if fresh_only else self._checkout(origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin)
            parser = ResponseParser(no_body=method == "HEAD")
            try:
                await self._send(conn, payload)
                head, early = await self._read_head(conn, parser)
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
            return UpstreamResponse(self, conn, parser, head, early)

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
            conn.idle_since = trio.current_time()
            idle.append(conn)
        else:
            conn.close()

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        with trio.move_on_after(self.connect_timeout):
            try:
                tcp = await trio.open_tcp_stream(host, port)
            except OSError as exc:
                raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
            fd = tcp.socket.fileno()
            if scheme == "http":
                return _Connection(origin, tcp, fd)
            tls = trio.SSLStream(tcp, self._tls(), server_hostname=host, https_compatible=True)
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, OSError) as exc:
                tcp.socket.close()
                cause = exc.__cause__ or exc
                raise httpx.ConnectError(f"TLS with {host}:{port} failed: {cause}") from None
            except BaseException:
                tcp.socket.close()
                raise
            return _Connection(origin, tls, fd)
        raise httpx.ConnectTimeout(f"connecting to {host}:{port} took too long") from None

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    async def _send(self, conn: _Connection, payload: bytes) -> None:
        with trio.move_on_after(self.write_timeout):
            try:
                await conn.stream.send_all(payload)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                raise _Stale from None
            return
        raise httpx.WriteTimeout("the upstream did not take the request in time")

    async def _read_head(self, conn: _Connection, parser: ResponseParser) -> tuple[Head, list[Any]]:
        """The response head, and any body events that arrived with it."""
        first = True
        while True:
            try:
                events = await self._receive(conn, parser)
            except httpx.ReadError:
                if first:
                    raise _Stale from None
                raise
            first = False
            if events:
                head = events[0]
                assert isinstance(head, Head)
                return head, events[1:]

    async def _receive(self, conn: _Connection, parser: ResponseParser) -> list[Any]:
        with trio.move_on_after(self.read_timeout):
            try:
                data = await conn.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise httpx.ReadError(f"the upstream connection broke: {exc}") from None
            try:
                if not data:
                    if parser.head is None and not parser.done:
                        raise httpx.ReadError("the server closed the connection")
                    return parser.feed_eof()
                return parser.feed(bytes(data))
            except ProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
        raise httpx.ReadTimeout("the upstream sent nothing in time")


class _Stale(Exception):
    """The connection failed before any answer arrived."""


class HttpxUpstream:
    """The same `open()` on httpx, for environments that need what httpx does and we do not
    (a proxy from HTTPS_PROXY / ALL_PROXY)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Response:
        request = self.client.build_request(method, url, content=content, headers=headers)
        if not any(k.lower() == "accept-encoding" for k in headers):
            # Callers read aiter_raw(), which httpx does not decode: ask for no coding.
            request.headers["accept-encoding"] = "identity"
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        await self.client.aclose()


def proxy_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.upper()) for name in _PROXY_VARIABLES)


def make_upstream_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    write_timeout: float,
    pool_timeout: float,
    max_connections: int = 1000,
    environ: Mapping[str, str] | None = None,
) -> Upstream:
    """The lean client, or httpx when the environment names a proxy."""
    if proxy_configured(environ):
        return HttpxUpstream(
            httpx.AsyncClient(
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
                timeout=httpx.Timeout(
                    connect=connect_timeout,
                    read=read_timeout,
                    write=write_timeout,
                    pool=pool_timeout,
                ),
                follow_redirects=False,
            )
        )
    return UpstreamClient(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        pool_timeout=pool_timeout,
        max_connections=max_connections,
    )
