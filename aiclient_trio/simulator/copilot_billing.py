"""AI-credit billing of the simulated Copilot API, as the service bills since 2026-06-01.

Token prices on `/models` (tiered per batch of tokens from API 2026-06-01, flat nano-AIU per
token before), `copilot_usage` with the true token split, a prompt cache that turns repeated
prefixes into cache reads, the quota a call spends and the `x-quota-snapshot-*` headers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from aiclient_trio.simulator.copilot_kit import SimState

__all__ = [
    "BATCH_SIZE",
    "NANO_PER_CREDIT",
    "TIERED_SINCE",
    "cache_split",
    "charge",
    "copilot_usage",
    "quota_headers",
    "with_token_prices",
]

NANO_PER_CREDIT = 1_000_000_000  # 1 AI credit = 1e9 nano-AIU = $0.01
BATCH_SIZE = 1_000_000
TIERED_SINCE = "2026-06-01"  # API versions from this one get the tiered price form

# Credits per million tokens: input, output, cache read, cache write; then the long-context
# tier (prompts above `context_max`) where the model has one.
_PRICES: dict[str, tuple[tuple[float, float, float, float], int | None, tuple[float, ...]]] = {
    "gpt-4o": ((250, 1000, 125, 250), None, ()),
    "gpt-4.1": ((200, 800, 50, 200), None, ()),
    "gpt-5-mini": ((25, 200, 2.5, 25), None, ()),
    "claude-sonnet-4.5": ((300, 1500, 30, 375), 200_000, (600, 2250, 60, 750)),
    "claude-haiku-4.5": ((100, 500, 10, 125), None, ()),
    "gpt-5-codex": ((125, 1000, 12.5, 125), None, ()),
    "claude-opus-4.1": ((1500, 7500, 150, 1875), None, ()),
    "tiny-context": ((10, 10, 1, 10), None, ()),
}


def _tier(prices: tuple[float, ...], context_max: int | None) -> dict[str, Any]:
    tier: dict[str, Any] = {
        "input_price": prices[0],
        "output_price": prices[1],
        "cache_price": prices[2],
        "cache_write_price": prices[3],
    }
    if context_max is not None:
        tier["context_max"] = context_max
    return tier


def with_token_prices(entry: dict[str, Any], api_version: str) -> dict[str, Any]:
    """A `/models` entry with `billing.token_prices` in the form `api_version` gets."""
    price = _PRICES.get(entry["id"])
    if price is None:
        return entry
    default, context_max, long_context = price
    billing = dict(entry.get("billing") or {})
    if api_version >= TIERED_SINCE:
        prices: dict[str, Any] = {
            "batch_size": BATCH_SIZE,
            "default": _tier(default, context_max),
        }
        if long_context:
            prices["long_context"] = _tier(long_context, None)
        billing["token_prices"] = prices
    else:  # the older flat form: nano-AIU per token, top level
        per_token = tuple(p * NANO_PER_CREDIT / BATCH_SIZE for p in default)
        billing["token_prices"] = _tier(per_token, None)
    return entry | {"billing": billing}


def _cache_key(body: dict[str, Any]) -> str | None:
    """What the simulated cache is keyed by: `prompt_cache_key`, else the content up to the
    last cache breakpoint (`copilot_cache_control` on chat, `cache_control` on messages)."""
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    system = body.get("system")
    marked = [
        m
        for m in [*(system if isinstance(system, list) else []), *(body.get("messages") or [])]
        if isinstance(m, dict)
        and ("copilot_cache_control" in m or "cache_control" in json.dumps(m))
    ]
    if not marked:
        return None
    return hashlib.sha256(json.dumps(marked[0], sort_keys=True).encode()).hexdigest()


def cache_split(state: SimState, body: dict[str, Any], prompt_tokens: int) -> tuple[int, int]:
    """(cache read, cache write) tokens of this prompt: the first call with a cache key
    writes the prompt, the next ones read what was written."""
    key = _cache_key(body)
    if key is None:
        return 0, 0
    cached = state.prompt_cache.get(key)
    if cached is None:
        state.prompt_cache[key] = prompt_tokens
        return 0, prompt_tokens
    return min(cached, prompt_tokens), 0


def copilot_usage(
    model: str, prompt_tokens: int, output_tokens: int, cache_read: int, cache_write: int
) -> dict[str, Any] | None:
    """The answer's `copilot_usage`: cost in nano-AIU and the true token split."""
    price = _PRICES.get(model)
    if price is None:
        return None
    default, context_max, long_context = price
    tier = long_context if long_context and context_max and prompt_tokens > context_max else default
    fresh = prompt_tokens - cache_read - cache_write
    counts = (fresh, output_tokens, cache_read, cache_write)
    nano = sum(n * p for n, p in zip(counts, tier, strict=False)) * NANO_PER_CREDIT / BATCH_SIZE
    details = [
        {"token_type": kind, "token_count": n}
        for kind, n in zip(("input", "output", "cache_read", "cache_write"), counts, strict=True)
        if n or kind in ("input", "output")
    ]
    return {"total_nano_aiu": round(nano), "token_details": details}


def charge(state: SimState, usage: dict[str, Any] | None) -> None:
    """Spend a call's credits from the account's monthly AI-credit entitlement."""
    if usage is None or not state.token_billing:
        return
    snapshot = state.quota.get("quota_snapshots", {}).get("premium_interactions")
    if not isinstance(snapshot, dict) or snapshot.get("unlimited"):
        return
    credits = usage["total_nano_aiu"] / NANO_PER_CREDIT
    remaining = max(0.0, float(snapshot.get("remaining") or 0) - credits)
    snapshot["remaining"] = round(remaining, 6)
    entitlement = float(snapshot.get("entitlement") or 0)
    if entitlement > 0:
        snapshot["percent_remaining"] = round(100 * remaining / entitlement, 4)


def quota_headers(state: SimState) -> dict[str, str]:
    """`x-quota-snapshot-premium_models` as every CAPI answer carries it (query-string form)."""
    snapshot = state.quota.get("quota_snapshots", {}).get("premium_interactions")
    if not isinstance(snapshot, dict):
        return {}
    fields = {
        "ent": -1 if snapshot.get("unlimited") else snapshot.get("entitlement", 0),
        "ov": snapshot.get("overage_count", 0),
        "ovPerm": str(bool(snapshot.get("overage_permitted"))).lower(),
        "rem": snapshot.get("percent_remaining", 0),
        "rst": f"{state.quota.get('quota_reset_date', '')}T00:00:00Z",
    }
    return {"x-quota-snapshot-premium_models": urlencode(fields)}
