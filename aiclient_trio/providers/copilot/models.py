"""Copilot's model list (`GET /models`) as ModelInfo, endpoint routing and name normalisation.

One function maps any client spelling (`copilot/` prefix, dated Claude ids, dashes for dots,
case, haiku-class names) to an upstream id; one function picks the upstream endpoint (§8).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from aiclient_trio import ir
from aiclient_trio.errors import NotFound
from aiclient_trio.providers.base import ModelInfo, close_matches

__all__ = [
    "ENDPOINT_FORMATS",
    "FORMAT_PATHS",
    "choose_upstream_format",
    "model_info_from_json",
    "needs_max_completion_tokens",
    "normalise_model_name",
    "parse_models",
    "resolve_model_name",
]

ENDPOINT_FORMATS: dict[str, ir.WireFormat] = {
    "/chat/completions": "openai_chat",
    "/v1/messages": "anthropic",
    "/responses": "responses",
}
FORMAT_PATHS: dict[ir.WireFormat, str] = {fmt: path for path, fmt in ENDPOINT_FORMATS.items()}

# Upstream preference per inbound format (docs/copilot.md §8): the same format first
# (passthrough), then the closest translation.
_PREFERENCE: dict[ir.WireFormat, tuple[ir.WireFormat, ...]] = {
    "anthropic": ("anthropic", "openai_chat", "responses"),
    "openai_chat": ("openai_chat", "responses", "anthropic"),
    "responses": ("responses", "openai_chat", "anthropic"),
}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def model_info_from_json(entry: Mapping[str, Any]) -> ModelInfo:
    """One `GET /models` entry as ModelInfo (a missing endpoint list means chat only)."""
    caps = entry.get("capabilities") or {}
    limits = caps.get("limits") or {}
    supports = caps.get("supports") or {}
    kind: Literal["chat", "embeddings"] = (
        "embeddings" if caps.get("type") == "embeddings" else "chat"
    )
    endpoints = entry.get("supported_endpoints")
    if kind == "embeddings":
        formats: tuple[ir.WireFormat, ...] = ()
    elif isinstance(endpoints, list) and endpoints:
        formats = tuple(ENDPOINT_FORMATS[e] for e in endpoints if e in ENDPOINT_FORMATS)
    else:
        formats = ("openai_chat",)
    policy = entry.get("policy")
    enabled = not isinstance(policy, dict) or policy.get("state", "enabled") == "enabled"
    billing = entry.get("billing") or {}
    multiplier = billing.get("multiplier")
    thinking = bool(
        supports.get("thinking")
        or supports.get("adaptive_thinking")
        or supports.get("max_thinking_budget")
        or supports.get("reasoning_effort")
    )
    return ModelInfo(
        id=str(entry["id"]),
        provider="copilot",
        display_name=str(entry.get("name") or entry["id"]),
        context_window=_int(limits.get("max_context_window_tokens")),
        max_prompt_tokens=_int(limits.get("max_prompt_tokens")),
        max_output_tokens=_int(limits.get("max_output_tokens")),
        supports_tools=bool(supports.get("tool_calls", kind == "chat")),
        supports_vision=bool(supports.get("vision")),
        supports_thinking=thinking,
        upstream_formats=formats,
        kind=kind,
        premium_multiplier=float(multiplier) if isinstance(multiplier, int | float) else None,
        enabled=enabled,
    )


def parse_models(payload: Mapping[str, Any]) -> list[ModelInfo]:
    """The `{"object":"list","data":[...]}` body; entries without an id are skipped."""
    data = payload.get("data")
    if not isinstance(data, list):
        return []
    models = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            models.append(model_info_from_json(entry))
    return models


def choose_upstream_format(model: ModelInfo, inbound: ir.WireFormat) -> ir.WireFormat:
    """The endpoint to call for `inbound` bodies on `model` (never one the model lacks)."""
    for fmt in _PREFERENCE[inbound]:
        if fmt in model.upstream_formats:
            return fmt
    return "openai_chat"


def needs_max_completion_tokens(model_id: str) -> bool:
    """GPT-5 and o-series models reject `max_tokens` on /chat/completions."""
    lowered = model_id.lower()
    return lowered.startswith("gpt-5") or re.match(r"o\d", lowered) is not None


_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_DIGIT_DASH_DIGIT = re.compile(r"(?<=\d)-(?=\d)")


def normalise_model_name(name: str) -> str:
    """A client's spelling in Copilot's style: no prefix or date, lower case, dotted versions.

    `copilot/claude-sonnet-4-5-20250929` -> `claude-sonnet-4.5`; `GPT-4-1` -> `gpt-4.1`.
    """
    out = name.strip()
    if out.lower().startswith("copilot/"):
        out = out[len("copilot/") :]
    out = out.lower()
    out = _DATE_SUFFIX.sub("", out)
    if out.endswith("-latest"):
        out = out[: -len("-latest")]
    return _DIGIT_DASH_DIGIT.sub(".", out)


def _is_small_class(name: str) -> bool:
    return "haiku" in name


def resolve_model_name(name: str, available: Iterable[str], *, small_model: str = "") -> str:
    """The upstream id for `name`, or NotFound listing close matches.

    Tried in order: the exact id, then the normalised spelling (case-insensitive), then the
    configured small model for haiku-class names that Copilot does not list under that name.
    """
    ids: Sequence[str] = list(available)
    bare = name[len("copilot/") :] if name.lower().startswith("copilot/") else name
    if bare in ids:
        target = bare
    else:
        by_normal = {normalise_model_name(i): i for i in ids}
        wanted = normalise_model_name(bare)
        target = by_normal.get(wanted, "")
    if small_model and _is_small_class(normalise_model_name(bare)):
        small = normalise_model_name(small_model)
        for i in ids:
            if normalise_model_name(i) == small:
                return i
    if target:
        return target
    hints = close_matches(normalise_model_name(bare), ids)
    hint = f" Did you mean: {', '.join('copilot/' + h for h in hints)}?" if hints else ""
    raise NotFound(f"model {name!r} is not available on copilot.{hint}", param="model")
