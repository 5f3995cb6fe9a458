"""Copilot's AI-credit billing (since 2026-06-01): what a call cost, and what is left.

Answers carry `copilot_usage` (nano-AIU and the true token split) in each endpoint's own
place; `UsageFinder` reads it off the bytes as they pass, without parsing every event.
When an answer carries none, `/models`' `billing.token_prices` gives an estimate (marked as
such). The `x-quota-snapshot-*` headers tell what is left between quota calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEDecoder

__all__ = [
    "NANO_PER_CREDIT",
    "USD_PER_CREDIT",
    "Billed",
    "PriceTier",
    "TokenPrices",
    "UsageFinder",
    "parse_copilot_usage",
    "parse_quota_headers",
    "parse_token_prices",
]

NANO_PER_CREDIT = 1e9  # 1 AI credit = 1e9 nano-AIU
USD_PER_CREDIT = 0.01


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Credits per token for each kind of token; prompts above `context_max` use the next."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    context_max: int | None = None


@dataclass(frozen=True, slots=True)
class TokenPrices:
    default: PriceTier
    long_context: PriceTier | None = None

    def estimate(self, usage: ir.Usage) -> float:
        """Credits `usage` costs at these prices (the long-context tier past context_max)."""
        tier = self.default
        limit = tier.context_max
        if self.long_context is not None and limit is not None and usage.prompt_tokens > limit:
            tier = self.long_context
        return (
            usage.input_tokens * tier.input
            + usage.output_tokens * tier.output
            + usage.cache_read_input_tokens * tier.cache_read
            + usage.cache_creation_input_tokens * tier.cache_write
        )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _tier(data: Mapping[str, Any], scale: float) -> PriceTier:
    context_max = data.get("context_max")
    return PriceTier(
        input=_number(data.get("input_price")) * scale,
        output=_number(data.get("output_price")) * scale,
        cache_read=_number(data.get("cache_price")) * scale,
        cache_write=_number(data.get("cache_write_price", data.get("input_price"))) * scale,
        context_max=context_max if isinstance(context_max, int) else None,
    )


def parse_token_prices(entry: Mapping[str, Any]) -> TokenPrices | None:
    """A `/models` entry's `billing.token_prices`, in either form: tiered (API >= 2026-06-01,
    AIU per `batch_size` tokens) or flat (older API, nano-AIU per token)."""
    billing = entry.get("billing")
    prices = billing.get("token_prices") if isinstance(billing, dict) else None
    if not isinstance(prices, dict):
        return None
    default = prices.get("default")
    if isinstance(default, dict):
        batch = _number(prices.get("batch_size")) or 1.0
        long_context = prices.get("long_context")
        return TokenPrices(
            _tier(default, 1.0 / batch),
            _tier(long_context, 1.0 / batch) if isinstance(long_context, dict) else None,
        )
    if "input_price" in prices or "output_price" in prices:
        return TokenPrices(_tier(prices, 1.0 / NANO_PER_CREDIT))
    return None


@dataclass(frozen=True, slots=True)
class Billed:
    """One answer's `copilot_usage`: its cost and, when given, the true token split."""

    credits: float
    usage: ir.Usage | None


def parse_copilot_usage(data: Any) -> Billed | None:
    if not isinstance(data, dict) or not isinstance(data.get("total_nano_aiu"), int | float):
        return None
    credits = float(data["total_nano_aiu"]) / NANO_PER_CREDIT
    counts: dict[str, int] = {}
    for item in data.get("token_details") or []:
        if isinstance(item, dict) and isinstance(item.get("token_count"), int):
            kind = str(item.get("token_type"))
            counts[kind] = counts.get(kind, 0) + item["token_count"]
    if "input" not in counts and "output" not in counts:
        return Billed(credits, None)
    return Billed(
        credits,
        ir.Usage(
            input_tokens=counts.get("input", 0),
            output_tokens=counts.get("output", 0),
            cache_read_input_tokens=counts.get("cache_read", 0),
            cache_creation_input_tokens=counts.get("cache_write", 0),
        ),
    )


def _find(data: Any) -> Billed | None:
    """`copilot_usage` where an event or body carries it: top level (responses, messages,
    chat beside `usage`) or inside `usage` (chat, per the official type)."""
    if not isinstance(data, dict):
        return None
    found = parse_copilot_usage(data.get("copilot_usage"))
    if found is None and isinstance(data.get("usage"), dict):
        found = parse_copilot_usage(data["usage"].get("copilot_usage"))
    return found


_MARK = b"copilot_usage"


class UsageFinder:
    """Reads `copilot_usage` off an answer's bytes as they pass: SSE events or one JSON body.

    Only text containing the key is parsed, so relaying a stream costs one substring search
    per chunk; `on_found` is called with what each answer reports.
    """

    def __init__(self, on_found: Callable[[Billed], None], *, streaming: bool) -> None:
        self._on_found = on_found
        self._streaming = streaming
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self._streaming:
            self._buffer += chunk
            return
        if not self._buffer and chunk.endswith(b"\n\n"):
            if _MARK in chunk:  # the usual chunk: whole events, searched in place
                self._events(chunk)
            return
        self._buffer += chunk
        lf, crlf = self._buffer.rfind(b"\n\n"), self._buffer.rfind(b"\r\n\r\n")
        cut = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
        if cut:
            if _MARK in self._buffer[:cut]:
                self._events(bytes(self._buffer[:cut]))
            del self._buffer[:cut]

    def close(self) -> None:
        """The answer ended: a JSON body is read now, a stream's unterminated tail too."""
        data, self._buffer = bytes(self._buffer), bytearray()
        if _MARK not in data:
            return
        if self._streaming:
            self._events(data + b"\n\n")
            return
        try:
            found = _find(json.loads(data))
        except ValueError:
            return
        if found is not None:
            self._on_found(found)

    def _events(self, raw: bytes) -> None:
        for event in SSEDecoder().feed(raw):
            if _MARK.decode() not in event.data:
                continue
            try:
                found = _find(json.loads(event.data))
            except ValueError:
                continue
            if found is not None:
                self._on_found(found)


def parse_quota_headers(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The quota snapshot CAPI answers carry: `x-quota-snapshot-chat` (free plans), else
    `-premium_models` or `-premium_interactions`, each a query string (`ent` -1 unlimited,
    `ov`, `ovPerm`, `rem` % left, `rst` reset time)."""
    for name in ("chat", "premium_models", "premium_interactions"):
        raw = headers.get(f"x-quota-snapshot-{name}")
        if raw:
            break
    else:
        return None
    fields = {k: v[0] for k, v in parse_qs(raw).items() if v}

    def num(key: str) -> float | None:
        try:
            return float(fields[key])
        except (KeyError, ValueError):
            return None

    entitlement = num("ent")
    return {
        "snapshot": name,
        "unlimited": entitlement == -1,
        "entitlement": None if entitlement == -1 else entitlement,
        "percent_remaining": num("rem"),
        "overage": num("ov"),
        "overage_permitted": fields.get("ovPerm", "").lower() == "true",
        "resets_at": fields.get("rst"),
    }
