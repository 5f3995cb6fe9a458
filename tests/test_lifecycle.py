"""The request lifecycle's tables (`server.lifecycle`): every allowed transition is walked,
every other (state, event) pair is refused, and each ending is derived once."""

from __future__ import annotations

import itertools

import pytest

from aiclient_trio.server.exchange import Exchange
from aiclient_trio.server.lifecycle import (
    RESPONSE_TRANSITIONS,
    STOP_TRANSITIONS,
    Ending,
    Lifecycle,
    LifecycleError,
    Response,
    ResponseEvent,
    Stop,
    StopEvent,
    ending,
)

# The tables written out again, by hand: a change to the lifecycle must change both.
EXPECTED_RESPONSE = {
    (Response.WAITING, ResponseEvent.START): Response.OPEN,
    (Response.WAITING, ResponseEvent.FALL_BACK): Response.WAITING,
    (Response.OPEN, ResponseEvent.DELIVER): Response.DELIVERED,
    (Response.OPEN, ResponseEvent.CLOSE): Response.CLOSED,
    (Response.DELIVERED, ResponseEvent.CLOSE): Response.CLOSED,
}
EXPECTED_STOP = {
    (Stop.RUNNING, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    (Stop.RUNNING, StopEvent.DRAIN): Stop.DRAINED,
    (Stop.RUNNING, StopEvent.DEADLINE): Stop.TIMED_OUT,
    (Stop.DRAINED, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    (Stop.TIMED_OUT, StopEvent.DISCONNECT): Stop.CLIENT_GONE,
    (Stop.DRAINED, StopEvent.DRAIN): Stop.DRAINED,
    (Stop.CLIENT_GONE, StopEvent.DRAIN): Stop.CLIENT_GONE,
    (Stop.TIMED_OUT, StopEvent.DRAIN): Stop.TIMED_OUT,
}


def test_tables_are_the_documented_ones() -> None:
    assert RESPONSE_TRANSITIONS == EXPECTED_RESPONSE
    assert STOP_TRANSITIONS == EXPECTED_STOP


@pytest.mark.parametrize("state,event", list(itertools.product(Response, ResponseEvent)))
def test_every_response_pair(state: Response, event: ResponseEvent) -> None:
    life = Lifecycle()
    life.response = state
    life_stop_before = life.stop
    expected = EXPECTED_RESPONSE.get((state, event))
    if expected is None:
        with pytest.raises(LifecycleError, match=f"{event.value}.*{state.value}"):
            life.on_response(event)
        assert life.response is state  # a refused event leaves the state alone
    else:
        assert life.on_response(event) is expected
        assert life.response is expected
    assert life.stop is life_stop_before


@pytest.mark.parametrize("state,event", list(itertools.product(Stop, StopEvent)))
def test_every_stop_pair(state: Stop, event: StopEvent) -> None:
    life = Lifecycle()
    life.stop = state
    expected = EXPECTED_STOP.get((state, event))
    if expected is None:
        with pytest.raises(LifecycleError, match=f"{event.value}.*{state.value}"):
            life.on_stop(event)
        assert life.stop is state
    else:
        assert life.on_stop(event) is expected
        assert life.stop is expected
    assert life.response is Response.WAITING


def test_the_closed_state_takes_no_event() -> None:
    life = Lifecycle()
    for event in (ResponseEvent.START, ResponseEvent.CLOSE):
        life.on_response(event)
    for event in ResponseEvent:
        with pytest.raises(LifecycleError):
            life.on_response(event)
    assert (life.started, life.closed, life.delivered) == (True, True, False)


def test_a_fallback_after_the_first_byte_is_refused() -> None:
    life = Lifecycle()
    life.on_response(ResponseEvent.FALL_BACK)
    life.on_response(ResponseEvent.START)
    with pytest.raises(LifecycleError, match="fall_back"):
        life.on_response(ResponseEvent.FALL_BACK)


# Every (response, stop, failed) combination has exactly one ending; the table below is the
# whole mapping, written out so that a new state cannot slip through with a default.
W, OP, D, C = Response.WAITING, Response.OPEN, Response.DELIVERED, Response.CLOSED
R, G, DR, T = Stop.RUNNING, Stop.CLIENT_GONE, Stop.DRAINED, Stop.TIMED_OUT
E = Ending
EXPECTED_ENDINGS: dict[tuple[Response, Stop, bool], Ending] = {
    # The client left: nothing more is rendered, whatever else happened.
    **{(r, G, f): E.CLIENT_GONE for r in Response for f in (False, True)},
    # The terminal event went out: the body just ends.
    **{(D, s, f): E.DELIVERED for s in (R, DR, T) for f in (False, True)},
    # The last body message went out and the work returned.
    **{(C, s, False): E.COMPLETE for s in (R, DR, T)},
    # The work raised: a clean error, or a terminal error event once the stream started.
    **{(W, s, True): E.FAILED_BEFORE_FIRST_BYTE for s in (R, DR, T)},
    **{(r, s, True): E.FAILED_AFTER_FIRST_BYTE for r in (OP, C) for s in (R, DR, T)},
    # Stopped by the drain or the deadline, with nothing delivered.
    **{(r, DR, False): E.DRAINED for r in (W, OP)},
    **{(r, T, False): E.TIMED_OUT for r in (W, OP)},
    # The work returned without closing the body (the handler closes it).
    **{(r, R, False): E.COMPLETE for r in (W, OP)},
}


def test_the_endings_table_is_complete() -> None:
    every = set(itertools.product(Response, Stop, (False, True)))
    assert set(EXPECTED_ENDINGS) == every


@pytest.mark.parametrize("key", sorted(EXPECTED_ENDINGS, key=repr))
def test_each_combination_has_its_one_ending(key: tuple[Response, Stop, bool]) -> None:
    response, stop, failed = key
    assert ending(response, stop, failed=failed) is EXPECTED_ENDINGS[key]


async def test_client_left_is_a_cancellation_only_before_the_answer_is_out() -> None:
    """`Exchange.client_left` (the server's hang-up hook) goes through the stop table once."""

    async def send(message: object) -> None:
        raise AssertionError("nothing is sent here")

    waiting = Exchange(send, "req-1", "/v1/messages", "POST", "anthropic")
    waiting.client_left()
    waiting.client_left()  # a second hang-up changes nothing (and is not refused)
    assert (waiting.disconnected, waiting.outcome) == (True, "cancelled")

    delivered = Exchange(send, "req-2", "/v1/messages", "POST", "anthropic")
    delivered.life.on_response(ResponseEvent.START)
    delivered.life.on_response(ResponseEvent.DELIVER)
    delivered.client_left()
    assert (delivered.disconnected, delivered.outcome) == (True, "ok")

    closed = Exchange(send, "req-3", "/v1/messages", "POST", "anthropic")
    closed.life.on_response(ResponseEvent.START)
    closed.life.on_response(ResponseEvent.CLOSE)
    closed.client_left()
    assert (closed.disconnected, closed.outcome) == (False, "ok")
