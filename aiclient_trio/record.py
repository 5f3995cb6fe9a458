"""What one finished API request did: one ledger row, one log line, metric updates.

Its own module, below the gateway, the ledger, the metrics and the log, so all of them can
name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiclient_trio import ir

__all__ = ["RequestOutcome", "RequestRecord"]

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
