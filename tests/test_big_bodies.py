"""Issue 14 item 3: CPU work on big request data (token estimates, parsing) runs off the event
loop, so /healthz and other streams are served meanwhile; a body of countless tiny objects is
refused before it becomes gigabytes of Python objects. Timings live in `nox -s bench`; these
tests synchronise on events only."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from copilot_helpers import copilot_gateway, start_copilot_for_tests
from fakes import FakeProvider, make_gateway, serve
from kiro_helpers import start_kiro_for_tests

from aiclient_trio.formats import tokens
from aiclient_trio.providers.copilot import provider as copilot_provider
from aiclient_trio.providers.kiro import provider as kiro_provider
from aiclient_trio.server.app import create_app

BIG_TEXT = "word " * 400_000  # 2 MB: past the size that moves work off the loop
KIRO_TEXT = "word " * 110_000  # 550 KB: also past it, and under Kiro's 600 KB limit


class Gate:
    """Wraps a function so that its call signals `started` and then waits for `release`.
    Run on the event loop's own thread, it would block the loop: /healthz could not be
    answered, nobody would release it, and `released` would stay False."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started = threading.Event()
        self.release = threading.Event()
        self.released = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.started.is_set():  # the first call waits; the others run as usual
            self.started.set()
            self.released = self.release.wait(timeout=120)
        return self.real(*args, **kwargs)


async def _healthz_while_gated(url: str, gate: Gate, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        answers: dict[str, httpx.Response] = {}

        async def big() -> None:
            try:
                answers["big"] = await http.post(path, json=body)
            finally:
                gate.started.set()  # answered without the gated work: the asserts say so

        async with trio.open_nursery() as nursery:
            nursery.start_soon(big)
            await trio.to_thread.run_sync(gate.started.wait)  # the heavy work is running
            health = await http.get("/healthz")  # ... and the loop still answers
            assert health.status_code == 200
            gate.release.set()
    assert gate.released, f"the heavy work ran on the event loop (or never): {answers}"
    assert gate.started.is_set()
    return answers["big"]


async def _kiro_answer_while_gated(
    tmp_path: Path, gate: Gate, body: dict[str, Any]
) -> tuple[httpx.Response, Any]:
    """`body` to /v1/messages through a Kiro provider on its simulator, with /healthz
    asked while `gate` holds the heavy work: the answer and the simulator."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            answer = await _healthz_while_gated(url, gate, "/v1/messages", body)
        nursery.cancel_scope.cancel()
    return answer, sim


async def test_healthz_answers_while_a_big_count_tokens_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The counting itself (every text of the request goes through it, however the route
    # reaches the estimate).
    gate = Gate(tokens.estimate_text_tokens)
    monkeypatch.setattr(tokens, "estimate_text_tokens", gate)
    gateway = make_gateway(FakeProvider("copilot"))
    body = {
        "model": "copilot/fake-model",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": BIG_TEXT}],
    }
    async with serve(create_app(gateway)) as url:
        counted = await _healthz_while_gated(url, gate, "/v1/messages/count_tokens", body)
    assert counted.status_code == 200
    assert counted.json()["input_tokens"] >= 400_000


async def test_healthz_answers_while_kiro_estimates_a_big_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(kiro_provider.estimate_request)
    monkeypatch.setattr(kiro_provider, "estimate_request", gate)
    body = {
        "model": "kiro/claude-sonnet-4.5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": KIRO_TEXT}],
    }
    answer, sim = await _kiro_answer_while_gated(tmp_path, gate, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["input_tokens"] > 0
    assert sim.violations == []


async def test_the_refusal_reaches_the_client_as_413() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    messages = [{"role": "user", "content": "x"}] * 300_000
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
        refused = await http.post(
            "/v1/chat/completions", json={"model": "copilot/fake-model", "messages": messages}
        )
        assert refused.status_code == 413
        assert "compact the conversation" in refused.json()["error"]["message"]
        assert (await http.get("/healthz")).status_code == 200


def test_slicing_long_texts_keeps_the_estimate() -> None:
    text = Path(tokens.__file__).read_text() * 20  # ~200 KB of code, sliced
    whole = sum(tokens.estimate_text_tokens(part) for part in text.split("\n\n"))
    sliced = tokens.estimate_text_tokens(text)
    assert abs(sliced - whole) / whole < 0.02


def _conversation(turns: int) -> list[dict[str, str]]:
    """A long but small conversation: past the message count that moves conversion off the
    loop, far under every size limit."""
    pair = [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]
    return (pair * turns)[: 2 * turns - 1]


async def test_healthz_answers_while_kiro_converts_a_long_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(kiro_provider.build_request)
    monkeypatch.setattr(kiro_provider, "build_request", gate)
    body = {"model": "kiro/claude-sonnet-4.5", "max_tokens": 16, "messages": _conversation(200)}
    answer, sim = await _kiro_answer_while_gated(tmp_path, gate, body)
    assert answer.status_code == 200, answer.text
    sent = sim.generate_requests()[-1].json()["conversationState"]
    assert len(sent["history"]) == 398  # every turn but the current one went upstream
    assert sim.violations == []


@pytest.mark.parametrize(
    ("path", "gated"),
    [("/v1/messages", "translated_body"), ("/v1/chat/completions", "passthrough_body")],
)
async def test_healthz_answers_while_copilot_builds_a_long_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, gated: str
) -> None:
    gate = Gate(getattr(copilot_provider, gated))
    monkeypatch.setattr(copilot_provider, gated, gate)
    body = {"model": "gpt-4o", "max_tokens": 16, "messages": _conversation(200)}
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider))) as url:
            answer = await _healthz_while_gated(url, gate, path, body)
        nursery.cancel_scope.cancel()
    assert answer.status_code == 200, answer.text
    sent = sim.state.recorded("copilot", "/chat/completions")[-1].body
    assert len(sent["messages"]) == 399
