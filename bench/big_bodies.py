"""Big allowed bodies against the running daemon (issue 14 item 3): how long a 30 MB
count_tokens takes, how late /healthz answers meanwhile (the event loop must stay free),
and what a body of ~850k tiny messages does to memory (refused before it is built)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import trio
from procs import rss_bytes

# ~30 MB of prose in one user message: the count_tokens case of the issue.
_WORDS = "The quick brown fox jumps over the lazy dog while counting tokens. "


def _big_count_tokens_body(megabytes: int) -> bytes:
    text = _WORDS * (megabytes * 1024 * 1024 // len(_WORDS))
    body = {
        "model": "kiro/claude-sonnet-4.5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps(body).encode()


def _tiny_messages_body(count: int) -> bytes:
    messages = [{"role": "user", "content": "x"}] * count
    return json.dumps({"model": "gpt-4o", "messages": messages}).encode()


async def _healthz_during(base: str, work: Any) -> tuple[float, list[float], int]:
    """Run `work(client)` while probing /healthz every 50 ms; returns (seconds the work
    took, each probe's latency in ms, the work's HTTP status)."""
    latencies: list[float] = []
    outcome: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:

        async def run_work() -> None:
            started = time.perf_counter()
            outcome["status"] = await work(http)
            outcome["seconds"] = time.perf_counter() - started

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_work)
            async with httpx.AsyncClient(base_url=base, timeout=600) as probe:
                while "status" not in outcome:
                    sent = time.perf_counter()
                    await probe.get("/healthz")
                    latencies.append((time.perf_counter() - sent) * 1000)
                    await trio.sleep(0.05)
    return outcome["seconds"], latencies, outcome["status"]


async def big_body_results(base: str, pid: int, megabytes: int, tiny: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    body = _big_count_tokens_body(megabytes)

    async def count(http: httpx.AsyncClient) -> int:
        response = await http.post(
            "/v1/messages/count_tokens",
            content=body,
            headers={"content-type": "application/json"},
        )
        return response.status_code

    rss_before = rss_bytes(pid) / 1e6
    seconds, latencies, status = await _healthz_during(base, count)
    results["count_tokens"] = {
        "body_mb": round(len(body) / 1e6, 1),
        "status": status,
        "seconds": round(seconds, 2),
        "healthz_probes": len(latencies),
        "healthz_max_ms": round(max(latencies), 1) if latencies else None,
        "healthz_p50_ms": round(sorted(latencies)[len(latencies) // 2], 1) if latencies else None,
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_bytes(pid) / 1e6, 1),
    }
    tiny_body = _tiny_messages_body(tiny)

    async def post_tiny(http: httpx.AsyncClient) -> int:
        response = await http.post(
            "/v1/chat/completions",
            content=tiny_body,
            headers={"content-type": "application/json"},
        )
        return response.status_code

    rss_before = rss_bytes(pid) / 1e6
    seconds, latencies, status = await _healthz_during(base, post_tiny)
    results["tiny_messages"] = {
        "messages": tiny,
        "body_mb": round(len(tiny_body) / 1e6, 1),
        "status": status,
        "seconds": round(seconds, 2),
        "healthz_max_ms": round(max(latencies), 1) if latencies else None,
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_bytes(pid) / 1e6, 1),
    }
    return results
