# Decoder throughput on identical input: our EventStreamDecoder vs botocore's EventStreamBuffer
# (4 KiB and 1-byte feeds), and our SSE decoder; best of interleaved timed passes.
"""`codec_results(rounds)` -> dict for the results file."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiclient_trio.codecs.eventstream import EventStreamDecoder
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.simulator.kiro_eventstream import encode_event


def _frames(count: int) -> bytes:
    parts = []
    for i in range(count):
        text = f"token {i} " + "lorem ipsum " * (i % 8)
        parts.append(encode_event("assistantResponseEvent", {"content": text}))
    return b"".join(parts)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _ours(pieces: list[bytes]) -> int:
    decoder = EventStreamDecoder()
    count = 0
    for piece in pieces:
        count += len(decoder.feed(piece))
    decoder.close()
    return count


def _botocore(pieces: list[bytes]) -> int:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    count = 0
    for piece in pieces:
        buffer.add_data(piece)
        for _ in buffer:
            count += 1
    return count


def _sse(pieces: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for piece in pieces:
        count += len(decoder.feed(piece))
    return count + len(decoder.close())


def _pair(
    ours: Callable[[list[bytes]], int],
    theirs: Callable[[list[bytes]], int],
    pieces: list[bytes],
    rounds: int,
) -> tuple[float, float, int, int]:
    """Best-of-`rounds` seconds for each, passes interleaved so a busy patch on the shared
    machine slows both sides alike (the minimum is the least disturbed pass)."""
    best_a = best_b = float("inf")
    count_a = count_b = 0
    for _ in range(rounds):
        start = time.perf_counter()
        count_a = ours(pieces)
        best_a = min(best_a, time.perf_counter() - start)
        start = time.perf_counter()
        count_b = theirs(pieces)
        best_b = min(best_b, time.perf_counter() - start)
    return best_a, best_b, count_a, count_b


def _time(fn: Callable[[list[bytes]], int], pieces: list[bytes], rounds: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = fn(pieces)
        best = min(best, time.perf_counter() - start)
    return best, count


def _entry(seconds: float, count: int, size: int) -> dict[str, float]:
    return {
        "mb_per_s": size / seconds / 1e6,
        "frames_per_s": count / seconds,
        "seconds": seconds,
        "frames": count,
    }


def codec_results(rounds: int = 5, frames: int = 20000) -> dict[str, Any]:
    data = _frames(frames)
    small = _frames(max(200, frames // 40))
    out: dict[str, Any] = {"frame_bytes_total": len(data), "frames": frames}
    for label, payload, size in (("4k", data, 4096), ("1b", small, 1)):
        pieces = _pieces(payload, size)
        try:
            import botocore.eventstream  # noqa: F401
        except ImportError:
            ours, n1 = _time(_ours, pieces, rounds)
            out[f"eventstream_{label}"] = {
                "ours": _entry(ours, n1, len(payload)),
                "botocore": None,
                "note": "botocore is not installed",
            }
            continue
        ours, theirs, n1, n2 = _pair(_ours, _botocore, pieces, rounds)
        if n1 != n2:
            raise RuntimeError(f"decoders disagree: {n1} vs {n2} frames")
        out[f"eventstream_{label}"] = {
            "ours": _entry(ours, n1, len(payload)),
            "botocore": _entry(theirs, n2, len(payload)),
            "speedup": theirs / ours,
        }
    chunk = (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
        b'"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"tok "},'
        b'"finish_reason":null}]}\n\n'
    )
    sse = chunk * frames
    seconds, count = _time(_sse, _pieces(sse, 4096), rounds)
    out["sse_4k"] = _entry(seconds, count, len(sse))
    return out
