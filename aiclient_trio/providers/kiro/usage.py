"""Local token estimates and the getUsageLimits answer as the gateway's quota dict.

Estimates come from `aiclient_trio.formats.tokens` (the gateway's one count), with a
chars/4 fallback so the provider keeps working if that module is absent.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiclient_trio import ir

__all__ = ["estimate_request", "estimate_text", "quota_from_limits"]


def _tokens_module() -> Any:
    try:
        return importlib.import_module("aiclient_trio.formats.tokens")
    except ImportError:
        return None


def estimate_text(text: str) -> int:
    module = _tokens_module()
    if module is not None:
        return int(module.estimate_text_tokens(text))
    return math.ceil(len(text) / 4)


def estimate_request(request: ir.Request) -> int:
    module = _tokens_module()
    if module is not None:
        return int(module.estimate_request_tokens(request))
    parts = [request.system_text]
    for message in request.messages:
        for block in message.content:
            if isinstance(block, ir.TextBlock | ir.ToolResultBlock):
                parts.append(block.text)
            elif isinstance(block, ir.ToolUseBlock):
                parts.append(str(block.input))
    return math.ceil(sum(len(p) for p in parts) / 4)


def quota_from_limits(data: Mapping[str, Any]) -> dict[str, Any]:
    """{"remaining", "limit", "unit", "unlimited", "resets_at", "raw"} from getUsageLimits."""
    entries = data.get("usageBreakdownList") or []
    entry = next(
        (e for e in entries if isinstance(e, dict) and e.get("resourceType") == "AGENTIC_REQUEST"),
        entries[0] if entries and isinstance(entries[0], dict) else {},
    )
    limit = entry.get("usageLimitWithPrecision", entry.get("usageLimit"))
    used = entry.get("currentUsageWithPrecision", entry.get("currentUsage"))
    quota: dict[str, Any] = {
        "unit": "credits",
        "unlimited": False,
        "limit": limit,
        "remaining": round(limit - used, 4) if isinstance(limit, int | float) and
        isinstance(used, int | float) else None,
        "raw": dict(data),
    }  # fmt: skip
    reset = data.get("nextDateReset")
    if isinstance(reset, int | float):
        quota["resets_at"] = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d")
    return quota
