"""The simulated Kiro service's wire: frames to bytes, bodies sent with the faults applied.

Shared by every host of the simulator (`simulator.kiro`); it never imports the
gateway's codecs (the frame encoder is the simulator's own, `kiro_eventstream`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import trio

from aiclient_trio.simulator.asgi import Send
from aiclient_trio.simulator.kiro_auth import Outcome
from aiclient_trio.simulator.kiro_eventstream import encode_error, encode_event, encode_exception
from aiclient_trio.simulator.kiro_reply import FrameSpec

__all__ = [
    "KiroFaults",
    "body_chunks",
    "encode_frames",
    "respond",
    "send_frames",
]


@dataclass(slots=True)
class KiroFaults:
    """The switchboard: tests flip these between requests."""

    chunk_size: int | None = None  # 1 = every byte in its own chunk
    corrupt_frame: int | None = None  # flip a payload byte of this frame (0-based)
    truncate_frame: int | None = None  # end the body cleanly in the middle of this frame
    reset_after_frames: int | None = None  # abort the connection after this many frames
    hold_after_frames: int | None = None  # stop sending (until the client leaves) after N
    frame_delay: float = 0.0  # seconds between frames
    exception: str | None = None  # ThrottlingException / ContentLengthExceededException
    error_frame: bool = False
    native_reasoning: bool = False
    usage_events: bool = True  # False: the stream ends without its usage tail (cut off)
    stop_reason: str | None = None  # e.g. "CONTENT_FILTERED" in the tail's metadataEvent
    # Names from HTTP_ERRORS, answered one per generate call before behaving normally.
    http_errors: list[str] = field(default_factory=list)
    # Exact frame lists (S1-S10 sequences), consumed one per generate call.
    scripts: list[list[FrameSpec]] = field(default_factory=list)
    max_body_bytes: int = 1_500_000
    # Management operations that fail (HTTP 500) while listed here, e.g. "ListAvailableModels".
    failing_operations: set[str] = field(default_factory=set)
    # Management target services the host does not know (GetUsageLimits' is disputed).
    unknown_services: set[str] = field(default_factory=set)


async def send_frames(frames: list[FrameSpec], send: Send, faults: KiroFaults) -> bool:
    """Send the frames with the configured faults; False when the connection is to drop."""
    chunk = faults.chunk_size
    for position, spec in enumerate(frames):
        if faults.hold_after_frames is not None and position >= faults.hold_after_frames:
            await trio.sleep_forever()
        if faults.reset_after_frames is not None and position >= faults.reset_after_frames:
            return False
        if spec.get("reset"):
            return False
        if position and faults.frame_delay:
            await trio.sleep(faults.frame_delay)
        data = encode_frames([spec])
        if faults.corrupt_frame == position:
            flipped = bytearray(data)
            flipped[-5] ^= 0x01
            data = bytes(flipped)
        if faults.truncate_frame == position:
            await body_chunks(send, data[: len(data) // 2], chunk)
            return True
        await body_chunks(send, data, chunk)
    return True


def encode_frames(frames: list[FrameSpec]) -> bytes:
    """Frame specs (`event`/`exception`/`error` dicts, as in tests/data/kiro) to bytes."""
    out = bytearray()
    for spec in frames:
        if "event" in spec:
            out += encode_event(spec["event"], spec.get("payload", {}))
        elif "exception" in spec:
            out += encode_exception(spec["exception"], spec.get("message", ""))
        elif "error" in spec:
            out += encode_error(spec["error"], spec.get("message", ""))
        elif "raw_hex" in spec:
            out += bytes.fromhex(spec["raw_hex"])
    return bytes(out)


async def body_chunks(send: Send, data: bytes, chunk: int | None) -> None:
    step = chunk or len(data) or 1
    for start in range(0, len(data), step):
        await send(
            {"type": "http.response.body", "body": data[start : start + step], "more_body": True}
        )


async def respond(send: Send, outcome: Outcome) -> None:
    status, payload, extra = outcome
    body = json.dumps(payload).encode() if payload != {} or status != 302 else b""
    extra = {"content-type": "application/json", **extra}
    headers = [(b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
