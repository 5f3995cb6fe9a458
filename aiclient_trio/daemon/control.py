"""Control protocol, server and client.

The control socket: newline-delimited JSON requests from the CLI to the running daemon. A
unix socket, 0600 in a 0700 directory, peer uid checked; bad input gets an error, never a
crash.

Request line: `{"id": 1, "method": "status", "params": {...}}`. Reply line:
`{"id": 1, "result": ...}` or `{"id": 1, "error": {"code": "...", "message": "..."}}`.
Error codes: `parse_error`, `invalid_request`, `unknown_method`, `too_large`,
`invalid_params`, `failed` (the method refused, message says why), `internal_error`.
Lines above `MAX_LINE` bytes are refused and the connection closed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from aiclient_trio import untrusted
from aiclient_trio.config.paths import UnsafePath, check_owned
from aiclient_trio.redact import redact

__all__ = [
    "MAX_LINE",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "DaemonNotRunning",
    "Handler",
]

log = logging.getLogger("aiclient.control")

MAX_LINE = 1024 * 1024
Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """An error reply: raised by handlers to answer with it, and by the client on receipt."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonNotRunning(Exception):
    """No daemon answers on the control socket."""


def _encode(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def _error(req_id: Any, code: str, message: str) -> bytes:
    return _encode({"id": req_id, "error": {"code": code, "message": message}})


def _peer_uid(sock: trio.socket.SocketType | socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class ControlServer:
    """Serves registered method handlers on a unix socket."""

    def __init__(
        self,
        path: Path,
        handlers: Mapping[str, Handler] | None = None,
        *,
        idle_timeout: float = 60.0,
    ) -> None:
        self.path = path
        self.handlers: dict[str, Handler] = dict(handlers or {})
        # A connection that sends nothing for this long is closed (clients that hang).
        self.idle_timeout = idle_timeout

    def register(self, method: str, handler: Handler) -> None:
        self.handlers[method] = handler

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # stale socket: the caller holds the PID lock
        old_umask = os.umask(0o177)
        try:
            await sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(64)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                await trio.serve_listeners(self._connection, [listener], handler_nursery=nursery)
        finally:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    async def _connection(self, stream: trio.SocketStream) -> None:
        try:
            await self._converse(stream)
        except Exception:  # one bad connection never ends the control server (or the daemon)
            log.exception("control connection failed")

    async def _converse(self, stream: trio.SocketStream) -> None:
        async with stream:
            uid = _peer_uid(stream.socket)
            if uid is not None and uid != os.getuid():
                log.warning("control connection from uid %d refused", uid)
                await stream.send_all(_error(None, "forbidden", "peer uid not allowed"))
                return
            buffer = bytearray()
            try:
                while True:
                    newline = buffer.find(b"\n")
                    if newline < 0:
                        if len(buffer) > MAX_LINE:
                            await stream.send_all(
                                _error(None, "too_large", f"request line over {MAX_LINE} bytes")
                            )
                            return
                        data = b""
                        with trio.move_on_after(self.idle_timeout):
                            data = await stream.receive_some(65536)
                        if not data:
                            return
                        buffer += data
                        continue
                    line = bytes(buffer[:newline])
                    del buffer[: newline + 1]
                    if len(line) > MAX_LINE:
                        await stream.send_all(
                            _error(None, "too_large", f"request line over {MAX_LINE} bytes")
                        )
                        return
                    if line.strip():
                        await stream.send_all(await self._dispatch(line))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async def _dispatch(self, line: bytes) -> bytes:
        try:
            request = untrusted.loads(line, what="control request")
        except ValueError as exc:
            return _error(None, "parse_error", str(exc))
        if not isinstance(request, dict):
            return _error(None, "invalid_request", "request must be a JSON object")
        req_id = request.get("id")
        method = request.get("method")
        params = request.get("params", {})
        if not isinstance(method, str):
            return _error(req_id, "invalid_request", "'method' must be a string")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return _error(req_id, "invalid_params", "'params' must be a JSON object")
        handler = self.handlers.get(method)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return _error(req_id, "unknown_method", f"unknown method {method!r}; known: {known}")
        try:
            result = await handler(params)
        except ControlError as exc:
            return _error(req_id, exc.code, redact(exc.message))
        except Exception as exc:
            log.exception("control method %s failed", method)
            return _error(req_id, "internal_error", redact(f"{type(exc).__name__}: {exc}"))
        return _encode({"id": req_id, "result": result})


class ControlClient:
    """Blocking client for the CLI (one connection per call; the CLI is not async)."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """The method's result; ControlError on an error reply; DaemonNotRunning if no daemon."""
        try:
            check_owned(self.path.parent, directory=True)
            check_owned(self.path)
        except FileNotFoundError as exc:
            raise DaemonNotRunning(str(self.path)) from exc
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise DaemonNotRunning(str(self.path)) from exc
            uid = _peer_uid(sock)
            if uid is not None and uid != os.getuid():
                raise UnsafePath(
                    f"the process listening on {self.path} runs as uid {uid}, not as you: "
                    "it is not your aiclient daemon"
                )
            sock.sendall(_encode({"id": 1, "method": method, "params": dict(params or {})}))
            chunks: list[bytes] = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if data.endswith(b"\n"):
                    break
        raw = b"".join(chunks)
        if not raw:
            raise ControlError("no_reply", "the daemon closed the connection without a reply")
        try:
            reply = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ControlError(
                "bad_reply", f"the daemon's reply is not valid JSON: {exc}"
            ) from None
        if not isinstance(reply, dict):
            raise ControlError("bad_reply", "the daemon's reply is not a JSON object")
        if "error" in reply:
            err = reply["error"]
            raise ControlError(str(err.get("code")), str(err.get("message")))
        return reply.get("result")
