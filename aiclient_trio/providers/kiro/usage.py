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
    """The gateway's quota dict from GetUsageLimits: credits with their precision, the reset
    date, the subscription and overage (kiro-2026.md section 3)."""
    entries = [e for e in data.get("usageBreakdownList") or [] if isinstance(e, dict)]
    entry = next(
        (e for e in entries if e.get("resourceType") in ("CREDIT", "AGENTIC_REQUEST")),
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
        "used": used,
        "remaining": remaining,
        "raw": dict(data),
    }
    subscription = data.get("subscriptionInfo")
    if isinstance(subscription, dict) and subscription.get("subscriptionTitle"):
        quota["subscription"] = str(subscription["subscriptionTitle"])
    overage = data.get("overageConfiguration")
    if isinstance(overage, dict) and overage.get("overageStatus"):
        quota["overage"] = str(overage["overageStatus"])
    if isinstance(entry.get("overageCap"), int | float):
        quota["overage_cap"] = entry["overageCap"]
    reset = data.get("nextDateReset")
    if isinstance(reset, int | float):
        quota["resets_at"] = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d")
    return quota
