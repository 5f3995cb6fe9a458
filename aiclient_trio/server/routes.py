"""What the routes off the hot path answer: the model list, one model, usage, quotas.

`aiclient_trio.server.offpath` serves them (and the probes) as Quart handlers.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    ProviderUnavailable,
)
from aiclient_trio.gateway import Gateway
from aiclient_trio.ledger import LedgerUnavailable, UsageQuery, parse_time_bound
from aiclient_trio.providers.base import ModelInfo
from aiclient_trio.providers.quotas import provider_quotas
from aiclient_trio.providers.router import split_prefix

__all__ = [
    "clear_usage",
    "model_entry",
    "model_list",
    "usage_summary",
]


def _model_entry(info: ModelInfo, created: int, created_at: str) -> dict[str, Any]:
    entry = info.to_json()
    entry.update(
        object="model",
        type="model",
        created=created,
        created_at=created_at,
        owned_by=info.provider,
        display_name=info.display_name or info.id,
        max_input_tokens=info.max_prompt_tokens or info.context_window,
        max_tokens=info.max_output_tokens,
    )
    return entry


def _alias_model(gateway: Gateway, target: str) -> ModelInfo | None:
    config = gateway.config.value
    prefix, name = split_prefix(target, gateway.providers)
    provider = gateway.providers.get(prefix or config.default_provider)
    if provider is None:
        return None
    try:
        return provider.resolve_model(name)
    except GatewayError:
        return None


def model_list(gateway: Gateway) -> dict[str, Any]:
    """The models that can answer now (`Provider.listed_models`) and the configured aliases,
    readable by OpenAI and Anthropic list clients alike."""
    created = int(gateway.started_at)
    created_at = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: list[dict[str, Any]] = []
    for name in sorted(gateway.providers):
        models = gateway.providers[name].listed_models()
        for info in sorted(models, key=lambda m: m.id):
            data.append(_model_entry(info, created, created_at))
    for alias, targets in sorted(gateway.config.value.aliases.items()):
        entry: dict[str, Any] = {}
        first = _alias_model(gateway, targets[0]) if targets else None
        if first is not None:  # the first target's capabilities, under the alias name
            entry = _model_entry(first, created, created_at)
        entry.update(
            id=alias,
            object="model",
            type="model",
            created=created,
            created_at=created_at,
            owned_by="alias",
            display_name=alias,
            alias_of=list(targets),
        )
        data.append(entry)
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def model_entry(gateway: Gateway, model_id: str) -> dict[str, Any]:
    """One entry of the model list by id (`copilot/gpt-4.1`, `gpt-4.1`, an alias)."""

    entries = model_list(gateway)["data"]
    default = gateway.config.value.default_provider
    bare = [e for e in entries if e.get("upstream_id") == model_id and e.get("alias_of") is None]
    matches: list[dict[str, Any]] = [e for e in entries if e["id"] == model_id]
    matches += sorted(bare, key=lambda e: e.get("provider") != default)
    if matches:
        return matches[0]
    ids = [str(e["id"]) for e in entries]
    close = difflib.get_close_matches(model_id, ids, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else " GET /v1/models lists them."
    raise NotFound(f"model {model_id!r} not found.{hint}", param="model")


def _time_bound(name: str, value: str | None) -> float | None:

    if value is None or value == "":
        return None
    try:
        return parse_time_bound(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}", param=name) from None


async def usage_summary(
    gateway: Gateway, *, since: str | None, until: str | None, group: str = "model"
) -> dict[str, Any]:
    """The ledger's totals and breakdown plus each provider's upstream quota."""

    if group not in ("model", "provider", "day"):
        raise InvalidRequest(f"group: {group!r} is not one of model, provider, day", param="group")
    if gateway.ledger is None:
        raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
    query = UsageQuery(
        since=_time_bound("since", since),
        until=_time_bound("until", until),
        group=group,  # type: ignore[arg-type]
    )
    try:
        summary = await gateway.ledger.summary(query)
    except LedgerUnavailable as exc:
        raise ProviderUnavailable(str(exc)) from None
    summary["quota"] = await provider_quotas(gateway.providers)
    return summary


async def clear_usage(gateway: Gateway, before: str | None) -> dict[str, Any]:

    if gateway.ledger is None:
        raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
    try:
        deleted = await gateway.ledger.clear(_time_bound("before", before))
    except LedgerUnavailable as exc:
        raise ProviderUnavailable(str(exc)) from None
    return {"deleted": deleted}
