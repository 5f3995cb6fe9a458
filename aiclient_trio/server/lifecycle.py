"""The request lifecycle: explicit states and allowed transitions (sans-I/O, no trio).

In the manner of h11's connection state machine, a request is tracked by two small machines,
each an enum of states and a table of (state, event) -> next state; anything not in a table
is a bug in the gateway and raises `LifecycleError` instead of corrupting the state:

- `Response`: what the client has been sent (nothing, a started response, the terminal
  event, the last body message);
- `Stop`: why the upstream work stopped early, if it did (client gone, drain, deadline).

The ending of a request is derived from both plus whether the work raised (`ending`), and
`Exchange.conclude` renders that one ending for the client; the ledger row is written once,
by the route handler, from `Exchange.record`.

    Response (what the client got)              Stop (why the work stopped early)
      WAITING --start--> OPEN --deliver--> DELIVERED    RUNNING --disconnect--> CLIENT_GONE
       ^  | fall_back     |                  | close      |--drain----> DRAINED   (then a
       '--'               '------close-----> CLOSED       '--deadline-> TIMED_OUT  disconnect:
                                                          CLIENT_GONE; a drain: no change)
"""

from __future__ import annotations

import enum

__all__ = [
    "Ending",
    "Lifecycle",
    "LifecycleError",
    "Response",
    "ResponseEvent",
    "Stop",
    "StopEvent",
    "ending",
]


class LifecycleError(RuntimeError):
    """A transition the lifecycle does not allow: a bug in the gateway, never the client's."""


class Response(enum.Enum):
    WAITING = "waiting"  # nothing sent to the client yet (a fallback is still possible)
    OPEN = "open"  # http.response.start went out; the body is under way
    DELIVERED = "delivered"  # the terminal event went out; the upstream may still be open
    CLOSED = "closed"  # the last body message went out


class ResponseEvent(enum.Enum):
    START = "start"  # the response start went out
    FALL_BACK = "fall_back"  # the target failed before a byte: the next target is tried
    DELIVER = "deliver"  # the terminal stream event went out
    CLOSE = "close"  # the last body message went out


class Stop(enum.Enum):
    RUNNING = "running"  # nothing stopped the work early
    CLIENT_GONE = "client_gone"
    DRAINED = "drained"  # the drain deadline passed
    TIMED_OUT = "timed_out"  # the first-byte or idle deadline passed


class StopEvent(enum.Enum):
    DISCONNECT = "disconnect"
    DRAIN = "drain"
    DEADLINE = "deadline"


RESPONSE_TRANSITIONS: dict[tuple[Response, ResponseEvent], Response] = {
    (Response.WAITING, ResponseEvent.START): Response.OPEN,
    (Response.WAITING, ResponseEvent.FALL_BACK): Response.WAITING,
    (Response.OPEN, ResponseEvent.DELIVER): Response.DELIVERED,
    (Response.OPEN, ResponseEvent.CLOSE): Response.CLOSED,
    (Response.DELIVERED, ResponseEvent.CLOSE): Response.CLOSED,
}

STOP_TRANSITIONS: dict[tuple[Stop, StopEvent], Stop] = {
    (Stop.RUNNING, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    (Stop.RUNNING, StopEvent.DRAIN): Stop.DRAINED,
    (Stop.RUNNING, StopEvent.DEADLINE): Stop.TIMED_OUT,
    # The client may hang up while the drain or timeout error is being written: it wins.
    (Stop.DRAINED, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    (Stop.TIMED_OUT, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    # The drain cancels every live request, including ones already stopping: no change.
    (Stop.DRAINED, StopEvent.DRAIN): Stop.DRAINED,
    (Stop.CLIENT_GONE, StopEvent.DRAIN): Stop.CLIENT_GONE,
    (Stop.TIMED_OUT, StopEvent.DRAIN): Stop.TIMED_OUT,
}


class Ending(enum.Enum):
    """How a request ended: exactly one per request (see `ending`)."""

    COMPLETE = "complete"  # the work returned and wrote its whole answer
    DELIVERED = "delivered"  # terminal event out, then the upstream broke off or hung
    CLIENT_GONE = "client_gone"
    FAILED_BEFORE_FIRST_BYTE = "failed_before_first_byte"  # a clean error response
    FAILED_AFTER_FIRST_BYTE = "failed_after_first_byte"  # a terminal error event
    TIMED_OUT = "timed_out"
    DRAINED = "drained"


def ending(response: Response, stop: Stop, *, failed: bool) -> Ending:
    """The one ending of a request whose upstream work is over (`failed`: it raised)."""
    if stop is Stop.CLIENT_GONE:
        return Ending.CLIENT_GONE
    if response is Response.DELIVERED or (response is Response.CLOSED and not failed):
        # The whole message went out; whatever happened upstream after it is not the client's.
        return Ending.DELIVERED if response is Response.DELIVERED else Ending.COMPLETE
    if failed:
        started = response is not Response.WAITING
        return Ending.FAILED_AFTER_FIRST_BYTE if started else Ending.FAILED_BEFORE_FIRST_BYTE
    if stop is Stop.DRAINED:
        return Ending.DRAINED
    if stop is Stop.TIMED_OUT:
        return Ending.TIMED_OUT
    return Ending.COMPLETE


class Lifecycle:
    """The two machines of one request; the only writer of their states."""

    __slots__ = ("response", "stop")

    def __init__(self) -> None:
        self.response = Response.WAITING
        self.stop = Stop.RUNNING

    def __repr__(self) -> str:
        return f"Lifecycle({self.response.value}, {self.stop.value})"

    def on_response(self, event: ResponseEvent) -> Response:
        nxt = RESPONSE_TRANSITIONS.get((self.response, event))
        if nxt is None:
            raise LifecycleError(
                f"response event {event.value!r} is not allowed in state {self.response.value!r}"
            )
        self.response = nxt
        return nxt

    def on_stop(self, event: StopEvent) -> Stop:
        nxt = STOP_TRANSITIONS.get((self.stop, event))
        if nxt is None:
            raise LifecycleError(
                f"stop event {event.value!r} is not allowed in state {self.stop.value!r}"
            )
        self.stop = nxt
        return nxt

    # Read-only views for callers that ask one question.
    @property
    def started(self) -> bool:
        return self.response is not Response.WAITING

    @property
    def delivered(self) -> bool:
        return self.response is Response.DELIVERED

    @property
    def closed(self) -> bool:
        return self.response is Response.CLOSED
