"""Local token estimates and the getUsageLimits answer as the gateway's quota dict.

Estimates come from `aiclient_trio.formats.tokens`, the gateway's one local count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiclient_trio import ir
from aiclient_trio.formats.tokens import estimate_request_tokens, estimate_text_tokens

__all__ = ["estimate_request", "estimate_text", "quota_from_limits"]


def estimate_text(text: str) -> int:
    return estimate_text_tokens(text)


def estimate_request(request: ir.Request) -> int:
    return estimate_request_tokens(request)


def quota_from_limits(data: Mapping[str, Any]) -> dict[str, Any]:
    """{"remaining", "limit", "unit", "unlimited", "resets_at", "raw"} from getUsageLimits."""
    entries = [e for e in data.get("usageBreakdownList") or [] if isinstance(e, dict)]
    entry = next(
        (e for e in entries if e.get("resourceType") == "AGENTIC_REQUEST"),
        entries[0] if entries else {},
    )
    limit = entry.get("usageLimitWithPrecision", entry.get("usageLimit"))
    used = entry.get("currentUsageWithPrecision", entry.get("currentUsage"))
    remaining = None
    if isinstance(limit, int | float) and isinstance(used, int | float):
        remaining = round(limit - used, 4)
    quota: dict[str, Any] = {
        "unit": "credits",
        "unlimited": False,
        "limit": limit,
        "remaining": remaining,
        "raw": dict(data),
    }
    reset = data.get("nextDateReset")
    if isinstance(reset, int | float):
        quota["resets_at"] = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d")
    return quota
