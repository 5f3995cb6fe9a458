"""The running gateway's shared state, handed from the daemon to the HTTP app.

The daemon nursery owns every lifetime; the app only reads this object. Values that change
while running are `trio_util.AsyncValue`s so readers wait on change instead of polling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import trio
from trio_util import AsyncValue

from aiclient_trio.config.types import Config
from aiclient_trio.ledger import Ledger
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.providers.base import Provider
from aiclient_trio.record import RequestRecord
from aiclient_trio.reliability import Reliability
from aiclient_trio.untrusted import client_text

if TYPE_CHECKING:
    from aiclient_trio.dashboard.service import Dashboard

__all__ = ["DrainableWork", "Gateway"]

log = logging.getLogger("aiclient.gateway")


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
    # Called synchronously as each API request starts: (request id, endpoint, unix time).
    start_observers: list[Callable[[str, str, float], None]] = field(default_factory=list)
    # Circuit breakers per provider and rate-limit buckets per client.
    reliability: Reliability = field(default_factory=Reliability)
    # The usage ledger and metrics, when the daemon runs them (tests may leave them out).
    ledger: Ledger | None = None
    metrics: GatewayMetrics | None = None
    # The dashboard at /ui, when the daemon runs one.
    dashboard: Dashboard | None = None

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

    def announce_start(self, request_id: str, endpoint: str) -> None:
        for observer in self.start_observers:
            observer(request_id, endpoint, time.time())

    def record(self, rec: RequestRecord) -> None:
        """Hand a finished request to every observer. The client's strings in it are made
        safe first (encodable, capped, credentials masked): they become ledger rows, log
        lines and metric labels. A failing observer is logged; the others still run."""
        rec.client_model = client_text(rec.client_model)
        rec.upstream_model = client_text(rec.upstream_model)
        if rec.fallback_from:
            rec.fallback_from = tuple(client_text(t) or "" for t in rec.fallback_from)
        for observer in self.observers:
            try:
                observer(rec)
            except Exception:
                log.exception("request %s: observer %r failed", rec.request_id, observer)
