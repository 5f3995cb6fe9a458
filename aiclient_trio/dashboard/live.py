"""The dashboard's live feed: request starts and ends (and sign-in progress) as numbered events.

Publishing is a deque append and a counter bump, cheap enough for the hot path; readers (the
server-sent-event streams) wait for the counter to pass what they sent and read what is new,
so a slow browser never holds memory: it skips what fell out of the ring. Events carry
metadata only, never content.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from aiclient_trio.record import RequestRecord

__all__ = ["LiveEvent", "LiveFeed", "wire_format_of"]

# Endpoint -> the client's wire format (the ledger row names the endpoint only).
_FORMATS = {
    "/v1/chat/completions": "openai_chat",
    "/v1/embeddings": "openai_chat",
    "/v1/messages": "anthropic",
    "/v1/messages/count_tokens": "anthropic",
    "/v1/responses": "responses",
}


def wire_format_of(endpoint: str) -> str | None:
    return _FORMATS.get(endpoint)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    seq: int
    kind: str  # "start" | "end" | "signin"
    data: dict[str, Any]


class LiveFeed:
    """The last `size` events; `seq` is the number of the newest (0: none yet)."""

    def __init__(self, size: int = 500) -> None:
        self._events: deque[LiveEvent] = deque(maxlen=size)
        self.seq = 0
        # Set when the daemon drains: open streams end so the HTTP server can stop.
        self.closed = False
        # Made by the first reader that waits, set and dropped by the next publish: a request
        # with no page open pays no wake-up.
        self._changed: trio.Event | None = None

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self._events.append(LiveEvent(self.seq, kind, data))
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def since(self, after: int) -> list[LiveEvent]:
        """Events numbered above `after` still in the ring, oldest first."""
        if after >= self.seq:
            return []
        return [e for e in self._events if e.seq > after]

    async def wait_after(self, after: int) -> None:
        """Return once an event above `after` exists or the feed closed."""
        while self.seq <= after and not self.closed:
            if self._changed is None:
                self._changed = trio.Event()
            await self._changed.wait()

    # -- gateway observers ---------------------------------------------------------------------

    def request_started(self, request_id: str, endpoint: str, started_at: float) -> None:
        self.publish(
            "start",
            {
                "id": request_id,
                "endpoint": endpoint,
                "format": wire_format_of(endpoint),
                "started_at": started_at,
            },
        )

    def request_finished(self, rec: RequestRecord) -> None:
        usage = rec.usage
        self.publish(
            "end",
            {
                "id": rec.request_id,
                "endpoint": rec.endpoint,
                "format": wire_format_of(rec.endpoint),
                "started_at": rec.started_at,
                "model": rec.client_model,
                "upstream_model": rec.upstream_model,
                "provider": rec.provider,
                "stream": rec.stream,
                "status": rec.http_status,
                "outcome": rec.outcome,
                "error_kind": rec.error_kind,
                "input_tokens": usage.input_tokens if usage else None,
                "output_tokens": usage.output_tokens if usage else None,
                "latency_ms": round(rec.duration * 1000, 1),
                "ttfb_ms": (
                    None
                    if rec.time_to_first_byte is None
                    else round(rec.time_to_first_byte * 1000, 1)
                ),
                "ended_at": time.time(),
            },
        )
