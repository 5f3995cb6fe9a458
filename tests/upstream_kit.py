"""Real HTTP peers on 127.0.0.1 for the upstream pool's tests: a scripted HTTP/1.1 server
(`serving`) and a small forwarding proxy that speaks CONNECT (`proxying`)."""

from __future__ import annotations

import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import trio

Behaviour = Callable[[trio.abc.Stream, bytes, "Server"], Awaitable[bool]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


@dataclass
class Server:
    """Reads requests (head + content-length body) and lets a script answer each one; the
    script returns False to stop serving the connection (which is then closed)."""

    script: list[Behaviour]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    closed_by_client: trio.Event = field(default_factory=trio.Event)
    hung_up: trio.Event = field(default_factory=trio.Event)  # the server closed a connection

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = await stream.receive_some(65536)
                    if not data:
                        self.closed_by_client.set()
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += await stream.receive_some(65536)
                request, buf = head + b"\r\n\r\n" + buf[:length], buf[length:]
                self.requests.append(request)
                behave = self.script.pop(0) if len(self.script) > 1 else self.script[0]
                if not await behave(stream, request, self):
                    return
        except trio.BrokenResourceError:
            self.closed_by_client.set()
        finally:
            await trio.aclose_forcefully(stream)
            self.hung_up.set()


def answer(raw: bytes, *, keep: bool = True) -> Behaviour:
    async def behave(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        await stream.send_all(raw)
        return keep

    return behave


async def drop(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
    return False  # read the request, close without a word


@asynccontextmanager
async def serving(*script: Behaviour, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(list(script))

    async def handler(stream: trio.SocketStream) -> None:
        if tls is not None:
            wrapped = trio.SSLStream(stream, tls, server_side=True)
            try:
                await wrapped.do_handshake()
            except trio.BrokenResourceError:
                await trio.aclose_forcefully(stream)
                return
            await server.handle(wrapped)
        else:
            await server.handle(stream)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


@dataclass
class Proxy:
    """What the proxy saw: request lines (`CONNECT host:port`, `GET http://...`) and the
    credentials each carried."""

    port: int = 0
    seen: list[str] = field(default_factory=list)
    credentials: list[str | None] = field(default_factory=list)
    refuse: int | None = None  # answer every request with this status instead

    def url(self, user: str | None = None) -> str:
        auth = f"{user}@" if user else ""
        return f"http://{auth}127.0.0.1:{self.port}"


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(sink)


async def _relay(client: trio.abc.Stream, upstream: trio.abc.Stream, first: bytes) -> None:
    if first:
        await upstream.send_all(first)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_pipe, client, upstream)
        nursery.start_soon(_pipe, upstream, client)


@asynccontextmanager
async def proxying() -> AsyncIterator[Proxy]:
    """An HTTP proxy: CONNECT tunnels and absolute-form requests, one target per connection."""
    proxy = Proxy()

    async def handler(stream: trio.SocketStream) -> None:
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buf += data
        except trio.BrokenResourceError:
            return
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        auth = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                scheme, _, token = value.strip().partition(" ")
                assert scheme == "Basic"
                auth = base64.b64decode(token).decode()
        proxy.seen.append(f"{method} {target}")
        proxy.credentials.append(auth)
        if method == "CONNECT":
            authority = target
        else:
            authority, _, path = target.removeprefix("http://").partition("/")
        host, _, port = authority.rpartition(":")
        # A target it cannot reach gets a 502, as from a real proxy.
        status, upstream = proxy.refuse or 502, None
        if proxy.refuse is None:
            with contextlib.suppress(OSError):
                upstream = await trio.open_tcp_stream(host, int(port))
        if upstream is None:
            await stream.send_all(b"HTTP/1.1 %d Refused\r\ncontent-length: 0\r\n\r\n" % status)
            await trio.aclose_forcefully(stream)
            return
        if method == "CONNECT":
            await stream.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await _relay(stream, upstream, rest)
            return
        kept = [
            f"{method} /{path} {version}",
            *(line for line in lines[1:] if not line.lower().startswith("proxy-authorization")),
        ]
        await _relay(stream, upstream, "\r\n".join(kept).encode() + b"\r\n\r\n" + rest)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        proxy.port = listeners[0].socket.getsockname()[1]
        yield proxy
        nursery.cancel_scope.cancel()
