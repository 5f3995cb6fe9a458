"""Fault injection between the gateway and the Kiro simulator: event-stream CRC errors,
truncation, resets, stalls, throttling and 5xx each reach the client as a well-formed error
in its own format within the configured timeout, leaving no task, socket or descriptor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing
from fakes import Records, make_gateway
from fault_kit import Meter, error_of, serve_app, task_named
from kiro_helpers import start_kiro_for_tests
from test_faults_copilot import MARGIN, call

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import KiroFaults, KiroSimulator

FIRST_BYTE = 0.6
IDLE = 0.4
MODEL = "kiro/claude-sonnet-4.5"


@dataclass
class KiroRig:
    url: str
    sim: KiroSimulator
    records: Records
    meter: Meter


@asynccontextmanager
async def kiro_rig(tmp_path: Path, **upstream: Any) -> AsyncIterator[KiroRig]:
    limits: dict[str, Any] = {
        "connect_timeout": 1.0,
        "first_byte_timeout": FIRST_BYTE,
        "idle_timeout": IDLE,
        "retries": 0,
    }
    config = Config(upstream=UpstreamConfig(**{**limits, **upstream}))
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        port = int(sim.base_url.rstrip("/").rsplit(":", 1)[1])
        meter = Meter(frozenset({task_named(nursery, "serve_kiro_simulator")}), frozenset({port}))
        gateway = make_gateway(provider, config=config)
        async with serve_app(create_app(gateway)) as url:
            yield KiroRig(url, sim, Records(gateway), meter)
        nursery.cancel_scope.cancel()


@dataclass(frozen=True)
class Fault:
    name: str
    fmt: str
    stream: bool
    switches: dict[str, Any]
    timeout: float = 0.0
    status: int | None = None  # expected status when refused before the first byte


FAULTS = [
    Fault("CRC error mid-stream", "anthropic", True, {"corrupt_frame": 2}),
    Fault("CRC error in the first frame", "openai_chat", True, {"corrupt_frame": 0}, status=502),
    Fault("CRC error", "responses", False, {"corrupt_frame": 1}, status=502),
    Fault("truncation", "anthropic", True, {"truncate_frame": 2}),
    Fault("truncation", "openai_chat", False, {"truncate_frame": 1}, status=502),
    Fault("reset mid-stream", "responses", True, {"reset_after_frames": 2}),
    Fault("reset before the first frame", "anthropic", False, {"reset_after_frames": 0}),
    # Kiro's response headers already start the message: the idle limit applies.
    Fault("stall before first frame", "anthropic", True, {"hold_after_frames": 0}, IDLE, 504),
    Fault("slow frames", "responses", False, {"frame_delay": 5.0}, IDLE, 504),
    Fault("stall mid-stream", "openai_chat", True, {"hold_after_frames": 2}, IDLE),
    Fault("stall mid-stream", "anthropic", False, {"hold_after_frames": 2}, IDLE, 504),
    Fault("429 throttled", "anthropic", True, {"http_errors": ["throttle"]}, status=429),
    Fault("5xx", "openai_chat", False, {"http_errors": ["internal"]}, status=500),
    Fault("exception frame", "responses", True, {"exception": "ThrottlingException"}),
]


async def test_every_kiro_fault_is_a_clean_error_and_leaves_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with kiro_rig(tmp_path) as rig:
        assert (await call(rig.url, "anthropic", MODEL, True)).status_code == 200
        baseline = await rig.meter.settle()
        for fault in FAULTS:
            for key, value in fault.switches.items():
                setattr(rig.sim.faults, key, value)
            started = trio.current_time()
            with trio.fail_after(fault.timeout + MARGIN):
                response = await call(rig.url, fault.fmt, MODEL, fault.stream)
            took = trio.current_time() - started
            where = f"{fault.name} ({fault.fmt}): {response.status_code} {response.text[-300:]}"
            try:
                error = error_of(fault.fmt, response)
                if fault.status is not None:
                    assert response.status_code == fault.status
                if fault.timeout:
                    assert took >= fault.timeout * 0.9
                    assert f"{fault.timeout:g} s" in error["message"]
            except AssertionError as exc:
                raise AssertionError(where) from exc
            rig.sim.faults = KiroFaults()
            ok = await call(rig.url, "openai_chat", MODEL, True)
            assert ok.status_code == 200 and b"error" not in ok.content, where
            await rig.meter.settle(baseline, where=where)
        recs = rig.records.items
        assert sum(r.outcome == "upstream_error" for r in recs) == len(FAULTS)


async def test_kiro_throttle_with_short_retry_after_is_retried(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with kiro_rig(tmp_path, retries=1, first_byte_timeout=10.0) as rig:
        rig.sim.faults.http_errors.append("throttle")  # retry-after: 2
        with trio.fail_after(2 + MARGIN):
            response = await call(rig.url, "anthropic", MODEL, False)
        assert response.status_code == 200, response.text
        assert len(rig.sim.generate_requests()) == 2
        # A longer wait than the client should sit through is passed on instead.
        rig.sim.faults.http_errors.append("throttle")
        async with kiro_rig(tmp_path / "b", retries=1, max_retry_after=1.0) as other:
            other.sim.faults.http_errors.append("throttle")
            with trio.fail_after(MARGIN):
                response = await call(other.url, "openai_chat", MODEL, False)
            assert response.status_code == 429
            assert response.headers["retry-after"] == "2"
            assert len(other.sim.generate_requests()) == 1
