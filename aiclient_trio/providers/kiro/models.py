"""Kiro model ids: client-name normalisation, the built-in list, ListAvailableModels parsing.

Kiro ids use dots (`claude-sonnet-4.5`, `gpt-5.6-sol`); clients send dated Anthropic ids
(`claude-opus-4-8-20260915`), dashes for dots and Claude Code's `[1m]` suffix. One
function, `normalize_model_id`, does that mapping. When signed in, the live list wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiclient_trio.errors import NotFound
from aiclient_trio.providers.base import ModelInfo, close_matches

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "FALLBACK_MODELS",
    "normalize_model_id",
    "parse_model_extras",
    "parse_model_list",
    "passthrough_model",
    "resolve_model_id",
]

log = logging.getLogger(__name__)
DEFAULT_CONTEXT_WINDOW = 200_000
DEFAULT_MAX_OUTPUT = 64_000
_DATE = re.compile(r"-(\d{8}|latest)$")
_WINDOW_SUFFIX = re.compile(r"\[\d+[km]\]$")
# claude-sonnet-4-5 -> claude-sonnet-4.5 ; claude-3-7-sonnet -> claude-3.7-sonnet
_FAMILY_FIRST = re.compile(r"^(claude-(?:sonnet|opus|haiku))-(\d+)-(\d+)$")
_VERSION_FIRST = re.compile(r"^claude-(\d+)-(\d+)-(sonnet|opus|haiku)$")
# gpt-5-6-sol -> gpt-5.6-sol
_GPT = re.compile(r"^gpt-(\d+)-(\d+)((?:-[a-z]+)?)$")


def _model(model_id: str, name: str, window: int = DEFAULT_CONTEXT_WINDOW) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        provider="kiro",
        display_name=name,
        context_window=window,
        max_prompt_tokens=window,
        max_output_tokens=DEFAULT_MAX_OUTPUT,
        supports_tools=True,
        supports_vision=True,
        supports_thinking=True,
    )


# Used until ListAvailableModels answers (and whenever it fails): kiro-2026.md section 6.
FALLBACK_MODELS: tuple[ModelInfo, ...] = (
    _model("auto", "Auto"),
    _model("claude-sonnet-4.5", "Claude Sonnet 4.5"),
    _model("claude-haiku-4.5", "Claude Haiku 4.5"),
    _model("claude-sonnet-4.6", "Claude Sonnet 4.6", 1_000_000),
    _model("claude-opus-4.6", "Claude Opus 4.6", 1_000_000),
    _model("claude-opus-4.7", "Claude Opus 4.7", 1_000_000),
    _model("claude-opus-4.8", "Claude Opus 4.8", 1_000_000),
    _model("claude-sonnet-5", "Claude Sonnet 5", 1_000_000),
    _model("claude-opus-5", "Claude Opus 5", 1_000_000),
    _model("claude-sonnet-5.5", "Claude Sonnet 5.5", 1_000_000),
    _model("claude-opus-5.5", "Claude Opus 5.5", 1_000_000),
    _model("gpt-5.6-sol", "GPT-5.6 Sol", 272_000),
    _model("gpt-5.6-terra", "GPT-5.6 Terra", 272_000),
    _model("gpt-5.6-luna", "GPT-5.6 Luna", 272_000),
)


def normalize_model_id(name: str) -> str:
    """A client's model name in Kiro's spelling (dated and dashed Anthropic ids mapped)."""
    model = name.strip().lower()
    model = _WINDOW_SUFFIX.sub("", model)
    model = _DATE.sub("", model)
    if match := _GPT.match(model):
        return f"gpt-{match.group(1)}.{match.group(2)}{match.group(3)}"
    if match := _FAMILY_FIRST.match(model):
        return f"{match.group(1)}-{match.group(2)}.{match.group(3)}"
    if match := _VERSION_FIRST.match(model):
        return f"claude-{match.group(1)}.{match.group(2)}-{match.group(3)}"
    return model


def resolve_model_id(name: str, models: Iterable[ModelInfo], *, live: bool = True) -> ModelInfo:
    """The model a client name means.

    With the live list (`live`), an unknown name is a NotFound naming close matches; with
    only the built-in list, it is passed through (the service has the last word).
    """
    by_id = {m.id: m for m in models}
    normalized = normalize_model_id(name)
    for candidate in (name, name.strip().lower(), normalized):
        if candidate in by_id:
            return by_id[candidate]
    if not live:
        log.warning(
            "Kiro model %r is not in the built-in list and the live list is unavailable; "
            "passing it through as %r",
            name,
            normalized,
        )
        return passthrough_model(normalized)
    hints = close_matches(normalized, list(by_id))
    hint = (
        f" Did you mean: {', '.join('kiro/' + h for h in hints)}?"
        if hints
        else f" Valid models: {', '.join('kiro/' + m for m in by_id)}."
    )
    raise NotFound(
        f"model {name!r} is not available on kiro (your account's model list).{hint} "
        "`aiclient models` lists them.",
        param="model",
    )


def passthrough_model(model_id: str) -> ModelInfo:
    return _model(model_id, model_id)


def parse_model_list(body: Mapping[str, Any]) -> list[ModelInfo]:
    """ListAvailableModels' answer as ModelInfo (entries without a modelId are skipped);
    `rateMultiplier` (credits per request) becomes the model's multiplier."""
    models: list[ModelInfo] = []
    for entry in body.get("models") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("modelId"), str):
            continue
        limits = entry.get("tokenLimits") or {}
        window = limits.get("maxInputTokens")
        output = limits.get("maxOutputTokens")
        inputs = entry.get("supportedInputTypes") or []
        multiplier = entry.get("rateMultiplier")
        models.append(
            ModelInfo(
                id=entry["modelId"],
                provider="kiro",
                display_name=str(entry.get("modelName") or entry["modelId"]),
                context_window=window if isinstance(window, int) else DEFAULT_CONTEXT_WINDOW,
                max_prompt_tokens=window if isinstance(window, int) else DEFAULT_CONTEXT_WINDOW,
                max_output_tokens=output if isinstance(output, int) else DEFAULT_MAX_OUTPUT,
                supports_tools=True,
                supports_vision="IMAGE" in inputs if inputs else True,
                supports_thinking=True,
                premium_multiplier=float(multiplier)
                if isinstance(multiplier, int | float)
                else None,
            )
        )
    return models


def parse_model_extras(body: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """(model id -> additionalModelRequestFieldsSchema, the account's default model id)."""
    schemas: dict[str, dict[str, Any]] = {}
    for entry in body.get("models") or []:
        if isinstance(entry, dict) and isinstance(entry.get("modelId"), str):
            schema = entry.get("additionalModelRequestFieldsSchema")
            if isinstance(schema, dict):
                schemas[entry["modelId"]] = schema
    default = body.get("defaultModel")
    default_id = default.get("modelId") if isinstance(default, dict) else None
    return schemas, default_id if isinstance(default_id, str) else None
