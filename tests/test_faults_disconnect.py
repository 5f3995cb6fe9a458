"""200 clients leave mid-stream at once: every upstream call is cancelled and the gateway's
tasks, sockets and descriptors return to where they started."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from fakes import open_raw_post, receive_until
from fault_kit import Meter, Resources
from test_faults_copilot import Rig, _config, body, copilot_rig, ok

CLIENTS = 200


async def test_200_clients_disconnecting_mid_stream_leave_nothing_behind(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = _config(first_byte_timeout=30.0, idle_timeout=30.0)
    # On the mock clock no time limit passes while any request is still being worked on.
    async with copilot_rig(tmp_path, config, keep_alive=2.0) as rig:
        await ok(rig)
        meter: Meter = rig.meter
        baseline = await meter.settle()
        state = rig.sim.state
        state.faults.hold_after_events = 2  # every stream stays open upstream until we leave
        streams: list[trio.SocketStream] = []
        # Connect at most 50 at a time (hypercorn's listen backlog is 100); all stay open.
        connecting = trio.CapacityLimiter(50)
        try:
            await _open_all_then_leave(rig, streams, connecting, baseline)
        finally:  # a failure above leaves no client socket to the next test
            for stream in streams:
                await trio.aclose_forcefully(stream)
        records = rig.records.items
        assert sum(r.outcome == "cancelled" for r in records) == CLIENTS
        state.faults.hold_after_events = None
        await ok(rig)
        await meter.settle(baseline, timeout=10.0)


async def _open_all_then_leave(
    rig: Rig,
    streams: list[trio.SocketStream],
    connecting: trio.CapacityLimiter,
    baseline: Resources,
) -> None:
    state, meter = rig.sim.state, rig.meter
    with trio.fail_after(30):

        async def open_one(i: int) -> None:
            fmt = ("anthropic", "openai_chat", "responses")[i % 3]
            path = {"anthropic": "/v1/messages", "openai_chat": "/v1/chat/completions"}
            async with connecting:
                stream = await open_raw_post(
                    rig.url, path.get(fmt, "/v1/responses"), body(fmt, "gpt-4o", True)
                )
                streams.append(stream)
                await receive_until(stream, b"Hello")  # content is flowing

        async with trio.open_nursery() as nursery:
            for i in range(CLIENTS):
                nursery.start_soon(open_one, i)
        assert state.open_streams >= CLIENTS
        during = meter.snapshot()
        assert during.sockets > baseline.sockets + CLIENTS  # really all open at once
        for stream in streams:
            await stream.aclose()
        await state.wait_for_disconnects(CLIENTS)  # the upstream saw every call end
        await rig.records.wait(CLIENTS + 1)


async def test_the_meter_notices_a_task_and_a_socket_left_behind() -> None:
    meter = Meter()
    baseline = await meter.settle()
    async with trio.open_nursery() as nursery:
        leaked = trio.socket.socket()
        nursery.start_soon(trio.sleep_forever)
        with pytest.raises(AssertionError, match="left behind"):
            await meter.settle(baseline, timeout=0.2)
        leaked.close()
        nursery.cancel_scope.cancel()
    await meter.settle(baseline)
