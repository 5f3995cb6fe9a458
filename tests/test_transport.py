"""The lean upstream client against real scripted servers on 127.0.0.1: keep-alive, stale
connections, timeouts, the pool limit, cancellation, incremental bodies, gzip, TLS, proxies."""

from __future__ import annotations

import gzip
import os
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trustme

from aiclient_trio.providers.transport import (
    HttpxUpstream,
    UpstreamClient,
    make_upstream_client,
)

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


@asynccontextmanager
async def client(**kwargs: float) -> AsyncIterator[UpstreamClient]:
    timeouts = {"connect_timeout": 5.0, "read_timeout": 5.0, "write_timeout": 5.0}
    timeouts.update(pool_timeout=5.0, **kwargs)
    upstream = UpstreamClient(**timeouts)  # type: ignore[arg-type]
    try:
        yield upstream
    finally:
        await upstream.aclose()


def url(server: Server, path: str = "/v1/x", scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{path}"


async def test_keep_alive_reuses_one_connection_and_sends_a_plain_request() -> None:
    async with serving(answer(OK)) as server, client() as upstream:
        for n in range(3):
            response = await upstream.open(
                "POST", url(server, f"/chat?n={n}"), headers={"X-Test": "1"}, content=b"[1]"
            )
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/json"
            assert await response.aread() == b"{}"
    assert server.connections == 1
    assert (
        server.requests[2]
        == (
            f"POST /chat?n=2 HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\nX-Test: 1\r\n"
            "accept-encoding: identity\r\ncontent-length: 3\r\n\r\n[1]"
        ).encode()
    )


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    async with serving(answer(OK, keep=False)) as server, client() as upstream:
        response = await upstream.open("GET", url(server), headers={})
        assert await response.aread() == b"{}"
        await server.hung_up.wait()  # the pooled connection is dead before it is reused
        response = await upstream.open("GET", url(server), headers={})
        assert await response.aread() == b"{}"
    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_reused_connection_dropped_without_answer_is_retried_once() -> None:
    async with serving(answer(OK), drop, answer(OK)) as server, client() as upstream:
        for _ in range(2):
            response = await upstream.open("POST", url(server), headers={}, content=b"{}")
            assert await response.aread() == b"{}"
    assert (server.connections, len(server.requests)) == (2, 3)


async def test_the_retry_after_a_stale_connection_takes_a_new_one() -> None:
    """Two pooled connections the server has both given up on: the retry does not try the
    second stale one, it connects anew."""
    go = trio.Event()
    answered: set[int] = set()

    async def once_then_drop(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        if id(stream) in answered:
            return False  # this connection's second request: read, never answered
        answered.add(id(stream))
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        await go.wait()
        await stream.send_all(b"{}")
        return True

    async with serving(once_then_drop) as server, client() as upstream:
        first = await upstream.open("GET", url(server), headers={})
        second = await upstream.open("GET", url(server), headers={})  # the first is busy
        go.set()
        assert (await first.aread(), await second.aread()) == (b"{}", b"{}")
        third = await upstream.open("GET", url(server), headers={})
        assert await third.aread() == b"{}"
    assert server.connections == 3


async def test_a_fresh_connection_dropped_without_answer_is_an_error() -> None:
    async with serving(drop) as server, client() as upstream:
        with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
            await upstream.open("POST", url(server), headers={}, content=b"{}")
    assert len(server.requests) == 1


async def test_silence_after_the_head_is_a_read_timeout() -> None:
    head_only = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
    async with serving(answer(head_only)) as server, client(read_timeout=0.2) as upstream:
        response = await upstream.open("GET", url(server), headers={})
        body = response.aiter_raw()
        assert await body.__anext__() == b"abc"
        with pytest.raises(httpx.ReadTimeout):
            await body.__anext__()
        await response.aclose()
        await server.closed_by_client.wait()


async def test_a_refused_connection_is_a_connect_error() -> None:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with client() as upstream:
        with pytest.raises(httpx.ConnectError, match=f"127.0.0.1:{port}"):
            await upstream.open("GET", f"http://127.0.0.1:{port}/", headers={})


async def test_the_pool_limit_queues_then_times_out_and_frees_its_slot() -> None:
    body = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab"
    async with serving(answer(body), answer(OK)) as server:
        upstream = UpstreamClient(
            connect_timeout=5, read_timeout=5, write_timeout=5, pool_timeout=0.1, max_connections=1
        )
        first = await upstream.open("GET", url(server), headers={})
        with pytest.raises(httpx.PoolTimeout):
            await upstream.open("GET", url(server), headers={})
        await first.aclose()  # unfinished: its connection is closed, the slot freed
        second = await upstream.open("GET", url(server), headers={})
        assert await second.aread() == b"{}"
        with pytest.raises(httpx.LocalProtocolError):
            await upstream.open("GET", url(server), headers={"x": "a\r\nInjected: 1"})
        third = await upstream.open("GET", url(server), headers={})
        assert await third.aread() == b"{}"
        await upstream.aclose()
    assert server.connections == 2
    assert all(b"Injected" not in r for r in server.requests)


async def test_closing_mid_body_closes_the_upstream_connection() -> None:
    stream_head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n"

    async def endless(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        await stream.send_all(stream_head)
        return True  # wait for another request: the client's close ends it

    async with serving(endless, answer(OK)) as server, client() as upstream:
        response = await upstream.open("POST", url(server), headers={}, content=b"{}")
        body = response.aiter_raw()
        assert await body.__anext__() == b"first"
        await response.aclose()
        await server.closed_by_client.wait()
        with pytest.raises(StopAsyncIteration):
            await body.__anext__()
        again = await upstream.open("POST", url(server), headers={}, content=b"{}")
        assert await again.aread() == b"{}"
    assert server.connections == 2


async def test_cancelling_while_waiting_for_the_head_closes_the_connection() -> None:
    async def mute(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        return True

    async with serving(mute) as server, client() as upstream:
        with trio.move_on_after(0.1) as scope:
            await upstream.open("GET", url(server), headers={})
        assert scope.cancelled_caught
        await server.closed_by_client.wait()


async def test_chunks_arrive_as_they_are_sent() -> None:
    go = trio.Event()

    async def paced(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        await stream.send_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await stream.send_all(b"7\r\ndata: 1\r\n")
        await go.wait()
        await stream.send_all(b"7\r\ndata: 2\r\n0\r\n\r\n")
        return True

    async with serving(paced) as server, client() as upstream:
        response = await upstream.open("POST", url(server), headers={}, content=b"{}")
        received = []
        async for chunk in response.aiter_raw():
            received.append(chunk)
            go.set()  # the second chunk is only sent after the first arrived
        await response.aclose()
    assert received == [b"data: 1", b"data: 2"]


async def test_a_gzip_body_is_decoded() -> None:
    packed = gzip.compress(b'{"hello": "world"}' * 50)
    raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed)
    async with serving(answer(raw + packed)) as server, client() as upstream:
        response = await upstream.open("GET", url(server), headers={})
        assert "content-encoding" not in response.headers
        assert "content-length" not in response.headers  # it counted the encoded bytes
        assert await response.aread() == b'{"hello": "world"}' * 50


async def test_a_chunked_deflate_stream_is_decoded_piece_by_piece() -> None:
    text = b"data: " + b"x" * 3000 + b"\n\n"
    packed = zlib.compress(text)
    half = len(packed) // 2
    raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ntransfer-encoding: chunked\r\n\r\n"
    for piece in (packed[:half], packed[half:]):
        raw += b"%x\r\n%s\r\n" % (len(piece), piece)
    raw += b"0\r\n\r\n"
    async with serving(answer(raw)) as server, client() as upstream:
        response = await upstream.open("GET", url(server), headers={})
        assert b"".join([chunk async for chunk in response.aiter_raw()]) == text


async def test_tls_is_verified_against_the_trust_store() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with serving(answer(OK), tls=server_context) as server:
        upstream = UpstreamClient(
            connect_timeout=5,
            read_timeout=5,
            write_timeout=5,
            pool_timeout=5,
            ssl_context=trusting,
        )
        response = await upstream.open("GET", url(server, scheme="https"), headers={})
        assert await response.aread() == b"{}"
        await upstream.aclose()
        async with client() as default_trust:  # httpx's store does not know this CA
            with pytest.raises(httpx.ConnectError, match="TLS"):
                await default_trust.open("GET", url(server, scheme="https"), headers={})


async def test_ssl_cert_file_names_a_private_authority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    async with serving(answer(OK), tls=server_context) as server, client() as upstream:
        response = await upstream.open("GET", url(server, scheme="https"), headers={})
        assert await response.aread() == b"{}"


async def test_a_proxy_in_the_environment_selects_httpx() -> None:
    timeouts = {"connect_timeout": 5.0, "read_timeout": 5.0, "write_timeout": 5.0}
    lean = make_upstream_client(**timeouts, pool_timeout=5.0, environ={"PATH": "/bin"})
    assert isinstance(lean, UpstreamClient)
    await lean.aclose()
    proxied = make_upstream_client(
        **timeouts, pool_timeout=5.0, environ={"HTTPS_PROXY": "http://proxy.invalid:3128"}
    )
    assert isinstance(proxied, HttpxUpstream)
    await proxied.aclose()
    # The httpx path answers through the same interface.
    async with serving(answer(OK)) as server:
        fallback = HttpxUpstream(httpx.AsyncClient(trust_env=False))
        response = await fallback.open("POST", url(server), headers={"a": "b"}, content=b"{}")
        assert (response.status_code, await response.aread()) == (200, b"{}")
        await response.aclose()
        await fallback.aclose()


async def test_keep_alive_holds_when_socket_numbers_pass_1024() -> None:
    """A busy daemon has more than 1,024 descriptors open: pooled connections still count as
    alive (select() cannot watch such numbers; before, every one was thrown away)."""
    fillers = [os.open(os.devnull, os.O_RDONLY)]
    try:
        while fillers[-1] < 1024:
            fillers.append(os.dup(fillers[0]))
        async with serving(answer(OK)) as server, client() as upstream:
            for _ in range(2):
                response = await upstream.open("GET", url(server), headers={})
                assert await response.aread() == b"{}"
        assert server.connections == 1
    finally:
        for fd in fillers:
            os.close(fd)


async def test_a_corrupt_gzip_body_is_a_decoding_error() -> None:
    """As with httpx: callers map httpx errors, so a bad body must not raise zlib.error."""
    raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 9\r\n\r\nnot gzip!"
    async with serving(answer(raw), answer(OK)) as server, client() as upstream:
        response = await upstream.open("GET", url(server), headers={})
        with pytest.raises(httpx.DecodingError):
            await response.aread()
        again = await upstream.open("GET", url(server), headers={})
        assert await again.aread() == b"{}"


async def test_the_httpx_fallback_asks_for_identity_since_callers_read_raw_bytes() -> None:
    """Callers read `aiter_raw()`, which httpx does not decode: a server that may compress
    (httpx offers gzip by default) must be told not to, as the lean client does."""
    text = b'{"hello": "world"}'

    async def compressing(stream: trio.abc.Stream, request: bytes, server: Server) -> bool:
        lines = request.lower().split(b"\r\n")
        if any(line.startswith(b"accept-encoding:") and b"gzip" in line for line in lines):
            body = gzip.compress(text)
            await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n")
        else:
            body = text
            await stream.send_all(b"HTTP/1.1 200 OK\r\n")
        await stream.send_all(b"content-length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async with serving(compressing) as server:
        fallback = HttpxUpstream(httpx.AsyncClient(trust_env=False))
        response = await fallback.open("POST", url(server), headers={}, content=b"{}")
        assert b"".join([chunk async for chunk in response.aiter_raw()]) == text
        await response.aclose()
        await fallback.aclose()
