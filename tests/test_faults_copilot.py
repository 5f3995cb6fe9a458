"""Fault injection between the gateway and the Copilot simulator (through a breakable TCP
proxy): every upstream fault reaches the client as a well-formed error in its own format,
within the configured timeouts, and leaves no task, socket or descriptor behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.testing
from copilot_helpers import _close_on_cancel, copilot_config, start_simulators
from fakes import Records, make_gateway
from fault_kit import KEEP_ALIVE, FaultProxy, Meter, error_of, http_answer, serve_app, task_named

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.copilot import CopilotProvider
from aiclient_trio.providers.copilot.auth import StoredCredential, save_credential
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot import CopilotSimulator

FIRST_BYTE = 0.6
IDLE = 0.4
# A fault must be reported within its timeout plus this margin (no real long waits).
MARGIN = 2.0
# For rig tests about behaviour, not time, on the real clock (e.g. a client in a thread, which
# the mock clock cannot see): limits that only end a hang, never reached on a loaded machine.
NO_TIME_LIMITS = {"first_byte_timeout": 60.0, "idle_timeout": 60.0}
PATHS = {"anthropic": "/v1/messages", "openai_chat": "/v1/chat/completions"}
PATHS["responses"] = "/v1/responses"


@dataclass
class Rig:
    url: str
    sim: CopilotSimulator
    proxy: FaultProxy
    gateway: Gateway
    records: Records
    meter: Meter


def _config(retries: int = 0, **upstream: Any) -> Config:
    limits: dict[str, Any] = {
        "connect_timeout": 1.0,
        "first_byte_timeout": FIRST_BYTE,
        "idle_timeout": IDLE,
        "retries": retries,
    }
    return Config(upstream=UpstreamConfig(**{**limits, **upstream}))


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


@asynccontextmanager
async def copilot_rig(
    tmp_path: Path, config: Config, keep_alive: float = KEEP_ALIVE
) -> AsyncIterator[Rig]:
    async with trio.open_nursery() as nursery:
        sim = await start_simulators(nursery)
        port = _port(sim.api_url)
        meter = Meter(
            frozenset({task_named(nursery, "serve_copilot_simulators")}),
            frozenset({port, _port(sim.github_url)}),
            keep_alive,
        )
        proxy: FaultProxy = await nursery.start(FaultProxy(port).run)
        # The provider connects with the server's connect timeout (as in the daemon); its
        # read timeouts stay long so that the server's first-byte/idle watchers fire first.
        save_credential(StoredCredential(github_token="gho_test"), tmp_path / "copilot")
        limits = replace(config.upstream, first_byte_timeout=30.0, idle_timeout=30.0)
        provider_config = replace(copilot_config(sim, api_url=proxy.url), upstream=limits)
        provider = CopilotProvider(provider_config, credentials_dir=tmp_path / "copilot")
        await nursery.start(_close_on_cancel, provider)
        await nursery.start(provider.run)
        gateway = make_gateway(provider, config=config)
        async with serve_app(create_app(gateway), keep_alive) as url:
            yield Rig(url, sim, proxy, gateway, Records(gateway), meter)
        nursery.cancel_scope.cancel()


def body(fmt: str, model: str, stream: bool, text: str = "hello there") -> dict[str, Any]:
    if fmt == "anthropic":
        return {
            "model": model,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        }
    if fmt == "responses":
        return {"model": model, "stream": stream, "input": text}
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


async def call(url: str, fmt: str, model: str, stream: bool, **extra: Any) -> httpx.Response:
    """One request on a fresh connection, closed by the server after the answer (so no
    idle keep-alive connection lingers on either side)."""
    headers = {"connection": "close"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        return await client.post(PATHS[fmt], json={**body(fmt, model, stream), **extra})


async def ok(rig: Rig, fmt: str = "openai_chat", model: str = "gpt-4o") -> None:
    response = await call(rig.url, fmt, model, True)
    assert response.status_code == 200, response.text
    assert b"error" not in response.content


@dataclass(frozen=True)
class Fault:
    name: str
    fmt: str
    model: str
    stream: bool
    # Where the time limit comes from: the first-byte or idle timeout, or none (immediate).
    timeout: float = 0.0
    status: int | None = None  # expected status when refused before the first byte


async def _arm(rig: Rig, fault: Fault) -> None:
    faults, proxy = rig.sim.state.faults, rig.proxy
    match fault.name:
        case "reset before headers":
            await proxy.set_mode("reset")
        case "reset mid-stream":
            faults.reset_after_events = 2
        case "stall before first byte" if fault.stream:
            faults.first_byte_delay = 60.0  # cancelled by the gateway long before
        case "stall before first byte":
            await proxy.set_mode("stall")  # non-stream answers: the request is never answered
        case "stall mid-stream":
            faults.hold_after_events = 2
        case "429 long retry-after":
            faults.queue_error(429, {"error": {"message": "slow"}}, {"retry-after": "120"})
        case "5xx":
            faults.queue_error(502, {"error": {"message": "bad gateway upstream"}})
        case "malformed JSON":
            await proxy.set_mode("canned", http_answer(200, "application/json", b'{"ch'))
        case "malformed SSE":
            frames = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"H'
            await proxy.set_mode("canned", http_answer(200, "text/event-stream", frames))
        case "truncation":
            chunk = {"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}}]}
            chunk["choices"][0]["delta"] = {"role": "assistant", "content": "Hel"}
            frames = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            await proxy.set_mode("canned", http_answer(200, "text/event-stream", frames))


async def _disarm(rig: Rig) -> None:
    faults = rig.sim.state.faults
    faults.reset_after_events = faults.hold_after_events = None
    faults.first_byte_delay = 0.0
    faults.queued_errors.clear()
    await rig.proxy.set_mode("pass")


FAULTS = [
    Fault("reset before headers", "anthropic", "gpt-4o", True, status=502),
    Fault("reset mid-stream", "openai_chat", "gpt-4o", True),
    Fault("reset mid-stream", "anthropic", "gpt-4o", True),
    Fault("stall before first byte", "responses", "gpt-4.1", True, FIRST_BYTE, 504),
    Fault("stall before first byte", "anthropic", "claude-sonnet-4.5", False, FIRST_BYTE, 504),
    Fault("stall mid-stream", "anthropic", "claude-sonnet-4.5", True, IDLE),
    Fault("stall mid-stream", "responses", "gpt-4o", True, IDLE),
    Fault("429 long retry-after", "openai_chat", "gpt-4o", False, status=429),
    Fault("5xx", "openai_chat", "gpt-4o", True, status=502),
    Fault("5xx", "responses", "gpt-4o", False, status=502),
    Fault("malformed JSON", "openai_chat", "gpt-4o", False, status=502),
    Fault("malformed JSON", "anthropic", "gpt-4o", False, status=502),
    Fault("malformed SSE", "anthropic", "gpt-4o", True),
    Fault("malformed SSE", "openai_chat", "gpt-4o", True),
    Fault("truncation", "openai_chat", "gpt-4o", True),
    Fault("truncation", "responses", "gpt-4o", True),
]


async def test_every_upstream_fault_is_a_clean_error_and_leaves_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with copilot_rig(tmp_path, _config()) as rig:
        await ok(rig)
        await ok(rig, "anthropic", "claude-sonnet-4.5")
        baseline = await rig.meter.settle()
        for fault in FAULTS:
            await _arm(rig, fault)
            started = trio.current_time()
            with trio.fail_after(fault.timeout + MARGIN):
                response = await call(rig.url, fault.fmt, fault.model, fault.stream)
            took = trio.current_time() - started
            where = f"{fault.name} ({fault.fmt}): {response.status_code} {response.text[-300:]}"
            try:
                error = error_of(fault.fmt, response)
            except AssertionError as exc:
                raise AssertionError(where) from exc
            if fault.status is not None:
                assert response.status_code == fault.status, (where, response.text)
            if fault.timeout:
                assert took >= fault.timeout * 0.9, where
                assert f"{fault.timeout:g} s" in error["message"], where  # names the limit
            if fault.name == "429 long retry-after":
                assert response.headers["retry-after"] == "120"
            await _disarm(rig)
            await ok(rig)  # the gateway still serves
            await rig.meter.settle(baseline, where=where)
        recs = rig.records.items
        assert sum(r.outcome == "upstream_error" for r in recs) == len(FAULTS)


async def test_connect_refused_is_a_clean_error_then_the_circuit_opens(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = _config(retries=1, circuit_failures=5, circuit_cooldown=60.0)
    async with copilot_rig(tmp_path, config) as rig:
        await ok(rig)
        await rig.proxy.refuse()
        baseline = await rig.meter.settle()
        # Two tries per request: the fifth refused connect opens Copilot's circuit.
        for fmt in ("anthropic", "openai_chat", "responses"):
            with trio.fail_after(MARGIN + 1.0):
                response = await call(rig.url, fmt, "gpt-4o", True)
            assert response.status_code == 502, response.text
            assert "could not reach Copilot" in error_of(fmt, response)["message"]
        # Open: refused at once, with a retry hint, without touching the upstream.
        with trio.fail_after(0.5):
            response = await call(rig.url, "anthropic", "gpt-4o", False)
        assert response.status_code == 503
        assert "circuit open" in error_of("anthropic", response)["message"]
        assert 55 <= int(response.headers["retry-after"]) <= 60
        await rig.meter.settle(baseline)


async def test_connect_timeout_is_a_clean_504(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with copilot_rig(tmp_path, _config(connect_timeout=0.3)) as rig:
        await ok(rig)
        await rig.proxy.refuse()
        # The same port now never completes a handshake: a listener with no room in its
        # accept queue (backlog 0, one connection already waiting) drops new SYNs.
        with trio.socket.socket() as blackhole, trio.socket.socket() as filler:
            blackhole.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
            await blackhole.bind(("127.0.0.1", rig.proxy.port))
            blackhole.listen(0)
            await filler.connect(("127.0.0.1", rig.proxy.port))
            started = trio.current_time()
            with trio.fail_after(MARGIN):
                response = await call(rig.url, "anthropic", "gpt-4o", True)
            assert trio.current_time() - started >= 0.3
        assert response.status_code == 504
        assert "ConnectTimeout" in error_of("anthropic", response)["message"]


async def test_short_429_and_5xx_are_retried_before_the_first_byte(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with copilot_rig(tmp_path, _config(retries=2, first_byte_timeout=5.0)) as rig:
        faults = rig.sim.state.faults
        faults.queue_error(429, {"error": {"message": "slow"}}, {"retry-after": "0"})
        faults.queue_error(503, {"error": {"message": "busy"}})
        with trio.fail_after(MARGIN + 1.0):
            response = await call(rig.url, "openai_chat", "gpt-4o", True)
        assert response.status_code == 200 and b"error" not in response.content
        chats = rig.sim.state.recorded("copilot", "/chat/completions")
        assert len(chats) == 3  # two failures, then the answer
        # Out of retries: the client gets the last error.
        for _ in range(3):
            faults.queue_error(502, {"error": {"message": "down"}})
        response = await call(rig.url, "anthropic", "gpt-4o", False)
        assert response.status_code == 502 and error_of("anthropic", response)
        # An expired credential: one refresh, one replay, the client never knows.
        issued = rig.sim.state.tokens_issued
        rig.sim.state.expire_copilot_tokens()
        response = await call(rig.url, "responses", "gpt-4o", False)
        assert response.status_code == 200, response.text
        assert rig.sim.state.tokens_issued == issued + 1
        # Never after the first byte: a stream cut mid-way is not replayed.
        before = len(rig.sim.state.recorded("copilot", "/chat/completions"))
        faults.reset_after_events = 2
        response = await call(rig.url, "openai_chat", "gpt-4o", True)
        assert error_of("openai_chat", response)
        assert len(rig.sim.state.recorded("copilot", "/chat/completions")) == before + 1
