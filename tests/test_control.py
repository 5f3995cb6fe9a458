"""Control socket: NDJSON replies, errors for bad input, the server keeps serving."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import XdgHome

from aiclient_trio.daemon.control import MAX_LINE, ControlClient, ControlError, ControlServer

pytestmark = pytest.mark.usefixtures("xdg_home")


async def echo(params: Mapping[str, Any]) -> Any:
    return {"echo": dict(params)}


async def refuse(params: Mapping[str, Any]) -> Any:
    raise ControlError("failed", "cannot do that with Bearer sk-secret-0123456789")


async def explode(params: Mapping[str, Any]) -> Any:
    raise KeyError("boom")


@pytest.fixture
async def server(xdg_home: XdgHome) -> AsyncIterator[ControlServer]:
    path = xdg_home.runtime / "ctl.sock"
    srv = ControlServer(path, {"echo": echo, "refuse": refuse, "explode": explode})
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        yield srv
        nursery.cancel_scope.cancel()


class Conn:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, raw: bytes) -> None:
        await self.stream.send_all(raw)

    async def reply(self) -> Any:
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


async def connect(path: Path) -> Conn:
    return Conn(await trio.open_unix_socket(str(path)))


async def test_request_reply_and_socket_is_private(server: ControlServer) -> None:
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    conn = await connect(server.path)
    async with conn.stream:
        await conn.send(b'{"id": 7, "method": "echo", "params": {"a": 1}}\n')
        assert await conn.reply() == {"id": 7, "result": {"echo": {"a": 1}}}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"this is not json\n", "parse_error"),
        (b"\xff\xfe\n", "parse_error"),
        (b"[1, 2]\n", "invalid_request"),
        (b'{"id": 1}\n', "invalid_request"),
        (b'{"id": 1, "method": "echo", "params": [1]}\n', "invalid_params"),
        (b'{"id": 1, "method": "nope"}\n', "unknown_method"),
        (b'{"id": 1, "method": "refuse"}\n', "failed"),
        (b'{"id": 1, "method": "explode"}\n', "internal_error"),
    ],
)
async def test_bad_requests_get_an_error_and_the_connection_keeps_serving(
    server: ControlServer, raw: bytes, code: str
) -> None:
    conn = await connect(server.path)
    async with conn.stream:
        await conn.send(raw)
        reply = await conn.reply()
        assert reply["error"]["code"] == code
        assert "sk-secret" not in reply["error"]["message"]
        await conn.send(b'{"id": 2, "method": "echo"}\n')
        assert await conn.reply() == {"id": 2, "result": {"echo": {}}}


async def test_oversized_line_is_refused_and_the_server_survives(server: ControlServer) -> None:
    conn = await connect(server.path)

    async def send_too_much() -> None:
        try:
            await conn.send(b"x" * (MAX_LINE + 70000))
        except trio.BrokenResourceError:
            pass  # the server may hang up before it read everything

    async with conn.stream, trio.open_nursery() as nursery:
        nursery.start_soon(send_too_much)
        reply = await conn.reply()
        try:  # then it closes the connection (a reset, as our bytes were left unread)
            rest = await conn.stream.receive_some(65536)
        except trio.BrokenResourceError:
            rest = b""
        assert rest == b""
    assert reply["error"]["code"] == "too_large"
    conn = await connect(server.path)
    async with conn.stream:
        await conn.send(b'{"id": 3, "method": "echo"}\n')
        assert (await conn.reply())["result"] == {"echo": {}}


async def test_unknown_method_lists_the_known_ones(server: ControlServer) -> None:
    conn = await connect(server.path)
    async with conn.stream:
        await conn.send(b'{"id": 1, "method": "stauts"}\n')
        message = (await conn.reply())["error"]["message"]
    assert "'stauts'" in message
    assert "echo, explode, refuse" in message


async def test_blocking_client(server: ControlServer) -> None:
    client = ControlClient(server.path, timeout=5)
    assert await trio.to_thread.run_sync(client.call, "echo", {"x": "y"}) == {"echo": {"x": "y"}}
    with pytest.raises(ControlError) as info:
        await trio.to_thread.run_sync(client.call, "refuse")
    assert info.value.code == "failed"


def test_client_without_daemon_says_so(xdg_home: XdgHome) -> None:
    from aiclient_trio.daemon.control import DaemonNotRunning

    with pytest.raises(DaemonNotRunning):
        ControlClient(xdg_home.runtime / "ctl.sock").call("status")


async def test_idle_connections_are_closed(
    xdg_home: XdgHome, autojump_clock: trio.testing.MockClock
) -> None:
    srv = ControlServer(xdg_home.runtime / "idle.sock", {"echo": echo}, idle_timeout=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        conn = await connect(srv.path)
        async with conn.stream:
            began = trio.current_time()
            assert await conn.stream.receive_some(10) == b""  # the server hung up
            assert trio.current_time() - began == pytest.approx(30)
        nursery.cancel_scope.cancel()
