"""The running gateway's shared state, handed from the daemon to the HTTP app.

The daemon nursery owns every lifetime; the app only reads this object. Values that change
while running are `trio_util.AsyncValue`s so readers wait on change instead of polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import trio
from trio_util import AsyncValue

from aiclient_trio import ir
from aiclient_trio.config_types import Config
from aiclient_trio.providers.base import Provider
from aiclient_trio.reliability import Reliability

if TYPE_CHECKING:
    from aiclient_trio.ledger import Ledger
    from aiclient_trio.metrics import GatewayMetrics

__all__ = ["DrainableWork", "Gateway", "RequestOutcome", "RequestRecord"]

RequestOutcome = Literal["ok", "client_error", "upstream_error", "cancelled"]


@dataclass(slots=True)
class RequestRecord:
    """What one finished API request did: one ledger row, one log line, metric updates."""

    request_id: str
    endpoint: str  # "/v1/messages", "/v1/chat/completions", ...
    method: str
    http_status: int
    outcome: RequestOutcome
    started_at: float  # unix time
    duration: float  # seconds
    stream: bool = False
    provider: str | None = None
    client_model: str | None = None
    upstream_model: str | None = None
    usage: ir.Usage | None = None
    time_to_first_byte: float | None = None
    initiator: str | None = None  # Copilot X-Initiator: "user" (premium) or "agent"
    credits: float | None = None  # Kiro metering / Copilot AI credits, when known
    credits_estimated: bool = False  # Copilot: estimated from token prices, not reported
    premium: float | None = None  # Copilot premium requests billed (multiplier x user turn)
    error_kind: str | None = None
    # Fallback chain: targets tried before the one that answered ("copilot/x", ...).
    fallback_from: tuple[str, ...] = ()


class DrainableWork(Protocol):
    """A request's upstream work while it runs (the server's `Exchange`)."""

    def drain(self) -> None:
        """Cancel the work because the drain deadline passed (ends with a shutdown error)."""


@dataclass(slots=True)
class Gateway:
    config: AsyncValue[Config]
    providers: dict[str, Provider] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    # Set when SIGTERM/SIGINT arrives: stop accepting, let in-flight requests finish.
    draining: trio.Event = field(default_factory=trio.Event)
    # Set by `expire_drain()` when the drain deadline passes: remaining streams end with a
    # terminal error event.
    drain_expired: trio.Event = field(default_factory=trio.Event)
    # The upstream work of API requests in flight: `expire_drain()` cancels them all, so
    # no request needs a task of its own waiting for the drain to expire.
    live_work: set[DrainableWork] = field(default_factory=set)
    active_requests: AsyncValue[int] = field(default_factory=lambda: AsyncValue(0))
    # Called synchronously for every finished request (ledger, metrics, log line).
    observers: list[Callable[[RequestRecord], None]] = field(default_factory=list)
    # Circuit breakers per provider and rate-limit buckets per client.
    reliability: Reliability = field(default_factory=Reliability)
    # The usage ledger and metrics, when the daemon runs them (tests may leave them out).
    ledger: Ledger | None = None
    metrics: GatewayMetrics | None = None

    def expire_drain(self) -> None:
        """The drain deadline passed (or a second signal came): end every request in flight,
        and any that starts from now on, with the shutdown error."""
        self.drain_expired.set()
        for work in list(self.live_work):
            work.drain()

    def add_work(self, work: DrainableWork) -> None:
        """Track `work` until `discard_work`; cancelled at once if the drain already expired."""
        self.live_work.add(work)
        if self.drain_expired.is_set():
            work.drain()

    def discard_work(self, work: DrainableWork) -> None:
        self.live_work.discard(work)

    def record(self, rec: RequestRecord) -> None:
        for observer in self.observers:
            observer(rec)
