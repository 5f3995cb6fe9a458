"""Fault-injection kit: a TCP proxy that breaks upstream connections on demand, resource
snapshots (trio tasks, file descriptors, sockets) and checks that an error is well formed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import hypercorn.config
import hypercorn.trio
import trio
import trio.testing
from fakes import sse_events
from trio_util import AsyncValue

# Hypercorn keeps a connection whose client already left until its keep-alive timer ends
# (the idle task holds the connection's task group open); tests keep that timer short.
KEEP_ALIVE = 0.5
ProxyMode = Literal["pass", "reset", "canned", "stall"]
SECRETS = ("gho_", "tid=", "ghu_", "aoa", "aor")


@dataclass
class FaultProxy:
    """Listens on 127.0.0.1 and forwards to `target_port`; `mode` decides what new
    connections get: "pass" (forward), "reset" (read the request head, then RST), "canned"
    (answer `canned` bytes and close) or "stall" (read the request, never answer)."""

    target_port: int
    mode: ProxyMode = "pass"
    canned: bytes = b""
    port: int = 0
    connections: int = 0
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    live: AsyncValue[int] = field(default_factory=lambda: AsyncValue(0))
    closed: trio.Event = field(default_factory=trio.Event)
    _forwards: set[trio.CancelScope] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[FaultProxy]) -> None:
        try:
            with self.scope:
                listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
                self.port = listeners[0].socket.getsockname()[1]
                task_status.started(self)
                await trio.serve_listeners(self._handle, listeners)
        finally:
            self.closed.set()

    async def set_mode(self, mode: ProxyMode, canned: bytes = b"") -> None:
        """Switch modes and close every forwarded connection, so that the next request
        (even from a keep-alive pool) opens a new connection and meets the new mode."""
        self.mode, self.canned = mode, canned
        for scope in self._forwards:
            scope.cancel()
        await self.live.wait_value(0)

    async def refuse(self) -> None:
        """Close the listener and every proxied connection: the port now refuses connects."""
        self.scope.cancel()
        await self.closed.wait()

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        mode = self.mode
        async with client:
            if mode == "pass":
                await self._forward(client)
                return
            await _read_request(client)
            if mode == "reset":
                client.socket.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            elif mode == "canned":
                await client.send_all(self.canned)
            else:  # stall: answer nothing, but let go once the caller hangs up
                with contextlib.suppress(trio.BrokenResourceError):
                    while await client.receive_some():
                        pass

    async def _forward(self, client: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        self.live.value += 1
        scope = trio.CancelScope()
        self._forwards.add(scope)
        try:
            with scope:
                async with upstream, trio.open_nursery() as nursery:
                    nursery.start_soon(_pump, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(_pump, upstream, client, nursery.cancel_scope)
        finally:
            self._forwards.discard(scope)
            self.live.value -= 1


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await src.receive_some():
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()


async def _read_request(stream: trio.SocketStream) -> None:
    seen = bytearray()
    while b"\r\n\r\n" not in seen:
        data = await stream.receive_some()
        if not data:
            return
        seen += data
    head, _, body = bytes(seen).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        data = await stream.receive_some()
        if not data:
            return
        body += data


def http_answer(status: int, content_type: str, body: bytes, *, length: bool = True) -> bytes:
    """Raw HTTP/1.1 response bytes (without content-length: the body ends at close)."""
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nconnection: close\r\n"
    if length:
        head += f"content-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@asynccontextmanager
async def serve_app(app: Any, keep_alive: float = KEEP_ALIVE) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:0 with a short keep-alive (also the time a new connection
    has to send its request); yields the base URL."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = config.errorlog = None
    config.graceful_timeout = 0.5
    config.keep_alive_timeout = keep_alive
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(hypercorn.trio.serve, app, config)
        try:
            yield urls[0]
        finally:
            nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- resources


def _count_tasks(task: trio.lowlevel.Task, skip: frozenset[trio.lowlevel.Task]) -> int:
    if task in skip:
        return 0
    return 1 + sum(_count_tasks(t, skip) for n in task.child_nurseries for t in n.child_tasks)


@dataclass(frozen=True)
class Resources:
    tasks: int
    fds: int
    sockets: int

    def within(self, baseline: Resources) -> bool:
        return (
            self.tasks <= baseline.tasks
            and self.fds <= baseline.fds
            and self.sockets <= baseline.sockets
        )


def _local_port(fd: int) -> int | None:
    """The local TCP port of socket `fd` (looked up on a duplicate, which is closed again)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            address = sock.getsockname()
    except OSError:
        return None
    return address[1] if isinstance(address, tuple) else None


@dataclass
class Meter:
    """Counts what the gateway holds: live trio tasks, file descriptors and sockets, minus
    the in-process simulators' own (their server side is not the daemon's)."""

    skip_tasks: frozenset[trio.lowlevel.Task] = frozenset()
    skip_ports: frozenset[int] = frozenset()
    keep_alive: float = KEEP_ALIVE

    def snapshot(self) -> Resources:
        fds = sockets = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # the listdir descriptor itself, already closed
            if link.startswith("socket:"):
                if _local_port(int(fd)) in self.skip_ports:
                    continue  # a simulator's side of a connection
                sockets += 1
            fds += 1
        tasks = _count_tasks(trio.lowlevel.current_root_task(), self.skip_tasks)
        return Resources(tasks, fds, sockets)

    async def settle(
        self, baseline: Resources | None = None, timeout: float = 3.0, *, where: str = ""
    ) -> Resources:
        """Wait until things are quiet; then assert nothing outlived its request: tasks,
        descriptors and sockets are back to (at most) `baseline` (a failure names `where`,
        the case being checked). Without a baseline, just return the quiet state.

        Time passes through trio.sleep (on the mock clock the rigs run on, it jumps ahead at
        once); "quiet" is wait_all_tasks_blocked: no task runnable, no socket ready. Both
        hold whatever the machine's load, since every party lives in this one trio run."""
        if baseline is None:  # a baseline: after idle connections had time to close
            await trio.sleep(self.keep_alive + 0.1)
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            return self.snapshot()
        with trio.move_on_after(timeout):
            while True:
                await trio.testing.wait_all_tasks_blocked(cushion=0.05)
                now = self.snapshot()
                if now.within(baseline):
                    break
                await trio.sleep(0.05)
        assert now.within(baseline), (
            f"{where}{': ' if where else ''}left behind: {now} > {baseline}"
        )
        return now


def task_named(nursery: trio.Nursery, name: str) -> trio.lowlevel.Task:
    return next(t for t in nursery.child_tasks if name in t.name)


# --------------------------------------------------------------------------- error shapes


def error_of(fmt: str, response: httpx.Response) -> dict[str, Any]:
    """Assert `response` carries a well-formed error for a `fmt` client; return its
    error object. Before the first byte: a status >= 400 and a JSON error body; after it:
    the stream's terminal error event."""
    text = response.text
    assert not any(s in text for s in SECRETS), "a credential leaked into an error"
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.status_code >= 400
        body = response.json()
        if fmt == "anthropic":
            assert body["type"] == "error" and body["request_id"]
            error = body["error"]
        else:
            error = body["error"]
            assert "code" in error and "param" in error
        assert isinstance(error["type"], str) and error["message"]
        return dict(error)
    assert response.status_code == 200
    events = [e for e in sse_events(response.content) if e.data != "[DONE]"]
    last = events[-1]
    data = json.loads(last.data)
    if fmt == "anthropic":
        assert last.event == "error" and data["type"] == "error"
        return dict(data["error"])
    if fmt == "responses":
        assert last.event == "response.failed"
        assert data["response"]["status"] == "failed"
        return dict(data["response"]["error"])
    assert isinstance(data["error"]["message"], str)
    return dict(data["error"])
