"""The upstream pool against real scripted servers on 127.0.0.1: keep-alive, stale
connections, timeouts, the pool limit, cancellation, incremental bodies, gzip, TLS."""

from __future__ import annotations

import gzip
import os
import ssl
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
import trustme
from upstream_kit import OK, Server, answer, drop, serving

from aiclient_trio.upstream import Pool, Proxies, Timeouts

NO_PROXY = Proxies()  # these tests talk to 127.0.0.1 directly, whatever the environment says


def timeouts(**kwargs: float) -> Timeouts:
    return Timeouts(**{"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0, **kwargs})


@asynccontextmanager
async def client(**kwargs: float) -> AsyncIterator[Pool]:
    upstream = Pool(timeouts(**kwargs), proxies=NO_PROXY)
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


async def test_silence_after_the_head_is_a_read_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    head_only = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
    async with serving(answer(head_only)) as server, client(read=0.2) as upstream:
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
        upstream = Pool(timeouts(pool=0.1), max_connections=1, proxies=NO_PROXY)
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
        upstream = Pool(timeouts(), ssl_context=trusting, proxies=NO_PROXY)
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
