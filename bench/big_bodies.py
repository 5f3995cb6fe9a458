"""Big allowed bodies against the running daemon (issue 14 item 3): for each case, how long
the request takes, how late /healthz answers meanwhile (probed every 50 ms: the event loop
must stay free) and the daemon's RSS before, at its peak and 3 s after (memory per request
must be bounded and given back). Run alone: `python bench/run.py --big-bodies`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import trio
from procs import rss_bytes

# ~30 MB of prose in one user message: the count_tokens case of the issue.
_WORDS = "The quick brown fox jumps over the lazy dog while counting tokens. "


def _prose(megabytes: int) -> str:
    return _WORDS * (megabytes * 1024 * 1024 // len(_WORDS))


def _tiny_messages(count: int) -> list[dict[str, str]]:
    # Alternating roles, so every provider sees a valid conversation ending on the user.
    pair = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    return [*(pair * (count // 2 + 1))[: count - 1], {"role": "user", "content": "x"}]


def _body(model: str, messages: list[dict[str, str]], **extra: Any) -> bytes:
    return json.dumps({"model": model, "max_tokens": 16, "messages": messages, **extra}).encode()


def cases(kiro_model: str, megabytes: int, tiny: int, refused: int) -> list[tuple[str, str, Any]]:
    """(name, path, body factory): built one at a time, so the bench holds one body at once."""
    prose = [{"role": "user", "content": _prose(megabytes)}]
    return [
        (
            f"count_tokens, one {megabytes} MB message",
            "/v1/messages/count_tokens",
            lambda: _body(kiro_model, prose),
        ),
        (
            f"count_tokens, {tiny:,} tiny messages",
            "/v1/messages/count_tokens",
            lambda: _body(kiro_model, _tiny_messages(tiny)),
        ),
        (
            f"/v1/messages -> Kiro, {tiny:,} tiny messages",
            "/v1/messages",
            lambda: _body(kiro_model, _tiny_messages(tiny)),
        ),
        (
            f"/v1/messages -> Kiro, one {megabytes} MB message",
            "/v1/messages",
            lambda: _body(kiro_model, prose),
        ),
        (
            f"/v1/messages -> Copilot (translated), {tiny:,} tiny messages",
            "/v1/messages",
            lambda: _body("gpt-4o", _tiny_messages(tiny)),
        ),
        (
            f"/v1/messages -> Copilot (translated), one {megabytes} MB message",
            "/v1/messages",
            lambda: _body("gpt-4o", prose),
        ),
        (
            f"/v1/chat/completions -> Copilot (passthrough), {tiny:,} tiny messages",
            "/v1/chat/completions",
            lambda: _body("gpt-4o", _tiny_messages(tiny)),
        ),
        (
            f"/v1/chat/completions, {refused:,} tiny messages (over the cap)",
            "/v1/chat/completions",
            lambda: _body("gpt-4o", _tiny_messages(refused)),
        ),
    ]


async def _one_case(base: str, pid: int, path: str, body: bytes) -> dict[str, Any]:
    """POST `body` while probing /healthz every 50 ms and sampling the daemon's RSS."""
    latencies: list[float] = []
    outcome: dict[str, Any] = {}
    rss_before = rss_bytes(pid)
    peak = rss_before
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:

        async def run_work() -> None:
            started = time.perf_counter()
            response = await http.post(
                path, content=body, headers={"content-type": "application/json"}
            )
            outcome["done"] = time.perf_counter()
            outcome["seconds"] = outcome["done"] - started
            outcome["status"] = response.status_code
            if response.status_code >= 400:
                outcome["error"] = response.text[:200]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_work)
            async with httpx.AsyncClient(base_url=base, timeout=600) as probe:
                # Until 1 s after the answer: freeing a big request's objects counts too.
                while "status" not in outcome or time.perf_counter() < outcome["done"] + 1:
                    sent = time.perf_counter()
                    await probe.get("/healthz")
                    latencies.append((time.perf_counter() - sent) * 1000)
                    peak = max(peak, rss_bytes(pid))
                    await trio.sleep(0.05)
    # The daemon gives memory back once idle for a second (daemon/memory.py).
    await trio.sleep(max(0.0, outcome["done"] + 3 - time.perf_counter()))
    ordered = sorted(latencies)
    return {
        "body_mb": round(len(body) / 1e6, 1),
        "status": outcome["status"],
        "error": outcome.get("error"),
        "seconds": round(outcome["seconds"], 2),
        "healthz_probes": len(latencies),
        "healthz_max_ms": round(ordered[-1], 1) if ordered else None,
        "healthz_p50_ms": round(ordered[len(ordered) // 2], 1) if ordered else None,
        "rss_mb_before": round(rss_before / 1e6, 1),
        "rss_mb_peak": round(peak / 1e6, 1),
        "rss_mb_after": round(rss_bytes(pid) / 1e6, 1),
    }


async def big_body_results(
    base: str,
    pid: int,
    kiro_model: str,
    megabytes: int,
    tiny: int,
    refused: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    results: dict[str, Any] = {"cases": []}
    only = os.environ.get("BENCH_BIG_ONLY", "")  # a part of the case names to run alone
    for name, path, make in cases(kiro_model, megabytes, tiny, refused):
        if only not in name:
            continue
        body = make()
        result = {"case": name, **await _one_case(base, pid, path, body)}
        del body
        log(f"big bodies: {json.dumps(result)}")
        results["cases"].append(result)
    return results
