"""One API request/response exchange: what was sent, when, and the record it leaves.

It sends ASGI-style response messages to `send` (under Quart a `server.http.ResponseSink`, which
makes them a Quart response), serialised by a lock; each event is flushed on its own. The
upstream deadlines (first byte, idle) are the work scope's deadline, moved as events come.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from aiclient_trio import ir
from aiclient_trio.errors import GatewayError, Overloaded, credential_refused, error_headers
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.record import RequestOutcome, RequestRecord
from aiclient_trio.server.http import (
    RawHeaders,
    Send,
    dumps,
    encode_headers,
    error_body,
)
from aiclient_trio.server.lifecycle import (
    Ending,
    Lifecycle,
    ResponseEvent,
    Stop,
    StopEvent,
    ending,
)
from aiclient_trio.untrusted import client_text

__all__ = ["Exchange"]

log = logging.getLogger(__name__)

_SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# The idle deadline moves at most this often (seconds): an event costs a clock read, not a
# timer update, and a silent upstream is cut between idle_timeout and idle_timeout + this.
IDLE_REARM = 0.025
# Error messages are cut to this many characters (they may quote a client's input).
MAX_ERROR_MESSAGE = 2000


# eq=False: hashed by identity, it sits in the gateway's set of live work while it runs.
@dataclass(slots=True, eq=False)
class Exchange:
    send: Send
    request_id: str
    endpoint: str
    method: str
    # Format of errors before parsing succeeded (the route's); later the response format.
    fmt: ir.WireFormat
    # Headers of our own on the response (the request id and CORS are added by the app).
    cors: RawHeaders = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=trio.current_time)
    last_write: float = field(default_factory=trio.current_time)
    # What the client got and why the work stopped: the only state of the request's progress
    # (`server.lifecycle`); `started`, `finished`, ... below are read-only views of it.
    life: Lifecycle = field(default_factory=Lifecycle)
    status: int = 0
    ttfb: float | None = None
    lock: trio.Lock = field(default_factory=trio.Lock)
    # How to end a started stream with an error (set when a stream starts).
    stream_error: Callable[[GatewayError], bytes] | None = None
    # A keep-alive event in the response format (translated streams only).
    ping: Callable[[], bytes] | None = None
    # What goes into the record.
    stream: bool = False
    outcome: RequestOutcome = "ok"
    error_kind: str | None = None
    provider: str | None = None
    client_model: str | None = None
    usage: ir.Usage | None = None
    ctx: RequestContext | None = None
    fallback_from: list[str] = field(default_factory=list)
    # Seconds spent in the client's rate-limit queue (not part of the first-byte budget).
    queued: float = 0.0
    # When the upstream last produced an event or chunk (None: nothing yet).
    upstream_seen: float | None = None
    # The scope the upstream work runs in (cancelled by disconnect, drain or its deadline),
    # the first-byte deadline, the idle timeout, and when the idle deadline next moves.
    work_scope: trio.CancelScope | None = None
    first_byte_deadline: float = math.inf
    idle_timeout: float = math.inf
    rearm_at: float = -math.inf
    # Rendered bytes held back to be coalesced with the next write.
    pending: list[bytes] = field(default_factory=list)
    # Write coalescing (server.stream_coalesce_ms, in seconds): see pace() (0: off).
    coalesce: float = 0.0
    resumed: float = float("-inf")  # when the last write (or its pause) ended
    burst: bool = False  # the last write came within the window: pace() pauses

    @property
    def started(self) -> bool:
        """http.response.start went out."""
        return self.life.started

    @property
    def finished(self) -> bool:
        """The last body message went out."""
        return self.life.closed

    @property
    def delivered(self) -> bool:
        """The client has the terminal event (a passthrough stream still open upstream): a
        hang-up now is the client being done, not a cancellation."""
        return self.life.delivered

    @property
    def disconnected(self) -> bool:
        return self.life.stop is Stop.CLIENT_GONE

    @property
    def drained(self) -> bool:
        return self.life.stop is Stop.DRAINED

    @property
    def timed_out(self) -> bool:
        return self.life.stop is Stop.TIMED_OUT

    def disconnect(self) -> None:
        """The client hung up (or its body never came); `conclude` records the cancellation."""
        self.life.on_stop(StopEvent.DISCONNECT)

    def client_left(self) -> None:
        """The client hung up while its work ran: a cancellation, unless the whole answer was
        already out (after the terminal event: not a cancellation; after the last body
        message: nothing changes). Safe to call more than once."""
        if self.life.stop is Stop.CLIENT_GONE or self.finished:
            return
        self.life.on_stop(StopEvent.DISCONNECT)
        if not self.delivered:
            self.outcome = "cancelled"

    def deliver(self) -> None:
        """The terminal stream event went out (once; later ones are ignored)."""
        if not self.life.delivered:
            self.life.on_response(ResponseEvent.DELIVER)

    def fall_back(self, label: str) -> None:
        """Target `label` failed before a byte went out: the next target is tried."""
        self.life.on_response(ResponseEvent.FALL_BACK)
        self.fallback_from.append(label)

    def saw_upstream(self) -> None:
        """The upstream produced an event or chunk: the idle deadline starts again."""
        now = self.upstream_seen = trio.current_time()
        if now >= self.rearm_at and self.work_scope is not None:
            self.rearm_at = now + IDLE_REARM
            self.work_scope.deadline = self.rearm_at + self.idle_timeout

    def expect_first_byte(self) -> None:
        """A new upstream attempt: back to the first-byte budget that is left."""
        self.upstream_seen = None
        self.rearm_at = -math.inf
        if self.work_scope is not None:
            self.work_scope.deadline = self.first_byte_deadline

    def deadline_passed(self) -> bool:
        """The work is being cancelled by its deadline, not by a disconnect or the drain."""
        scope = self.work_scope
        if scope is None or self.disconnected or self.drained:
            return False
        return scope.cancel_called  # nothing else cancels the work scope

    def drain(self) -> None:
        """The drain deadline passed: cancel the upstream work (see `Gateway.expire_drain`)."""
        self.life.on_stop(StopEvent.DRAIN)
        if self.work_scope is not None:
            self.work_scope.cancel()

    def headers(self) -> RawHeaders:
        return list(self.cors)

    def keep_alive(self, interval: float) -> bytes:
        """After `interval` seconds without output: what is held, else a ping (translated
        streams), else nothing. Called by the streamed body, between two sends."""
        if self.finished:
            self.last_write = math.inf  # nothing more to keep alive
            return b""
        now = trio.current_time()
        if now < self.last_write + interval:
            return b""
        body = b""
        if self.pending:
            body = self._take(b"")
        elif self.started and self.ping is not None:
            body = self.ping()
        self.last_write = now
        return body

    async def start(self, status: int, headers: RawHeaders) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*self.headers(), *headers],
            }
        )
        self.life.on_response(ResponseEvent.START)
        self.status = status
        if self.ctx is not None:
            self.ctx.committed = True

    async def start_stream(self, status: int = 200, headers: RawHeaders | None = None) -> None:
        await self.start(status, _SSE_HEADERS if headers is None else headers)

    def hold(self, chunk: bytes) -> None:
        """Keep `chunk` to go out with the next write (coalesces structural events)."""
        if chunk:
            self.pending.append(chunk)

    def _take(self, chunk: bytes) -> bytes:
        if not self.pending:
            return chunk
        joined = b"".join([*self.pending, chunk])
        self.pending.clear()
        return joined

    async def _acquire(self) -> None:
        """The send lock; uncontended (the usual case) without a trip through the scheduler:
        the send that follows is a checkpoint anyway (saves ~10 us per relayed event)."""
        try:
            self.lock.acquire_nowait()
        except trio.WouldBlock:
            await self.lock.acquire()

    async def write(self, chunk: bytes) -> None:
        """Send held bytes and `chunk` now (more to come); starts an SSE response if needed."""
        await self._acquire()
        try:
            if self.finished:
                return
            if not self.started:
                await self.start_stream()
            body = self._take(chunk)
            if not body:
                return
            await self.send({"type": "http.response.body", "body": body, "more_body": True})
            now = trio.current_time()
            if self.ttfb is None:
                self.ttfb = now - self.t0
            self.last_write = now
            self.burst = now - self.resumed < self.coalesce
            self.resumed = now
        finally:
            self.lock.release()

    async def pace(self) -> None:
        """Called by a relay after it wrote and took note of what it wrote: when that write
        followed the previous one within the coalescing window (a burst), hold the relay for
        one window so the events the upstream sends meanwhile leave in one read and one write."""
        if self.burst:
            self.burst = False
            await trio.sleep_until(self.last_write + self.coalesce)
            self.resumed = trio.current_time()

    async def finish(self, chunk: bytes = b"") -> None:
        """The last body message, with anything still held."""
        await self._acquire()
        try:
            if self.finished:
                return
            if not self.started:
                await self.start_stream()
            self.life.on_response(ResponseEvent.CLOSE)
            body = self._take(chunk)
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            if self.ttfb is None and body:
                self.ttfb = trio.current_time() - self.t0
        finally:
            self.lock.release()

    async def send_whole(self, status: int, body: bytes, headers: RawHeaders) -> None:
        """A complete, non-streamed response."""
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await self.start(status, headers)
        self.ttfb = trio.current_time() - self.t0
        await self.finish(body)

    async def send_json(self, status: int, body: dict[str, object]) -> None:
        await self.send_whole(status, dumps(body), [(b"content-type", b"application/json")])

    def note_error(self, error: GatewayError, *, upstream: bool) -> None:
        # Every error a client sees passes here first: mask credentials an upstream echoed,
        # and cut a message that quotes a huge client string.
        error.message = client_text(error.message, MAX_ERROR_MESSAGE) or ""
        if upstream:
            credential_refused(error, self.provider)
        self.error_kind = error.kind
        if self.outcome != "cancelled":
            # Our own refusals (bad input, our rate limit) are the client's; anything the
            # upstream said, or a 5xx of ours, is an upstream error.
            client_side = error.status < 500 and not upstream
            self.outcome = "client_error" if client_side else "upstream_error"

    async def fail(self, error: GatewayError, *, upstream: bool) -> None:
        """Report `error` the only way still open: a response, or a terminal stream event."""
        self.note_error(error, upstream=upstream)
        if self.disconnected or self.finished:
            return
        if not self.started:
            self.pending.clear()  # held stream bytes never went out: a clean error instead
            extra = encode_headers(error_headers(error).items())
            body = dumps(error_body(error, self.fmt, self.request_id))
            await self.send_whole(
                error.status, body, [(b"content-type", b"application/json"), *extra]
            )
        elif self.stream_error is not None:
            await self.finish(self.stream_error(error))
        else:
            await self.finish()

    async def conclude(
        self,
        failure: GatewayError | None,
        *,
        deadline_hit: bool,
        timeout_error: Callable[[], GatewayError],
        upstream: bool = True,
    ) -> Ending:
        """The work is over (`failure`: what it raised; `deadline_hit`: its scope was
        cancelled; `upstream`: the work was the upstream call, not our own wait before it):
        take the request's one ending and render it for the client, the only place that does.
        The ledger row follows from `record`."""
        if deadline_hit and self.life.stop is Stop.RUNNING:
            self.life.on_stop(StopEvent.DEADLINE)  # only the deadline cancels the scope otherwise
        end = ending(self.life.response, self.life.stop, failed=failure is not None)
        if end is Ending.CLIENT_GONE:
            if failure is not None and not self.delivered:
                self.note_error(failure, upstream=upstream)
        elif end is Ending.DELIVERED:
            if failure is not None:
                log.info(
                    "request %s: upstream %s after its last event", self.request_id, failure.kind
                )
            # The whole message went out; the upstream then never closed, broke off, or the
            # drain expired: the client's body just ends (an error after it would be raised).
            await self.finish()
        elif end in (Ending.FAILED_BEFORE_FIRST_BYTE, Ending.FAILED_AFTER_FIRST_BYTE):
            assert failure is not None
            await self.fail(failure, upstream=upstream)
        elif end is Ending.DRAINED:
            await self.fail(Overloaded("server shutting down"), upstream=upstream)
        elif end is Ending.TIMED_OUT:
            await self.fail(timeout_error(), upstream=upstream)
        if self.disconnected and not self.delivered:
            self.outcome = "cancelled"  # also when the client left while the error was written
        return end

    def record(self) -> RequestRecord:
        ctx = self.ctx
        usage, credits, estimated = ctx.billing(self.usage) if ctx else (self.usage, None, False)
        premium = ctx.premium if ctx else None
        if premium and self.status >= 400 and self.outcome != "cancelled":
            premium = 0.0  # refused (by the upstream or by us): no turn was taken, none billed
        return RequestRecord(
            request_id=self.request_id,
            endpoint=self.endpoint,
            method=self.method,
            http_status=self.status,
            outcome=self.outcome,
            started_at=self.started_at,
            duration=trio.current_time() - self.t0,
            stream=self.stream,
            provider=self.provider,
            client_model=self.client_model,
            upstream_model=ctx.upstream_model if ctx else None,
            usage=usage,
            time_to_first_byte=self.ttfb,
            initiator=ctx.initiator if ctx else None,
            credits=credits,
            credits_estimated=estimated,
            premium=premium,
            error_kind=self.error_kind,
            fallback_from=tuple(self.fallback_from),
        )
