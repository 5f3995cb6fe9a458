"""Kiro model ids: client-name normalisation, the built-in list, ListAvailableModels parsing.

Kiro ids use dots (`claude-sonnet-4.5`); clients send dated Anthropic ids
(`claude-sonnet-4-5-20250929`). One function, `normalize_model_id`, does that mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiclient_trio.errors import NotFound
from aiclient_trio.providers.base import ModelInfo

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "FALLBACK_MODELS",
    "normalize_model_id",
    "parse_model_list",
    "resolve_model_id",
]

DEFAULT_CONTEXT_WINDOW = 200_000
DEFAULT_MAX_OUTPUT = 64_000
_DATE = re.compile(r"-(\d{8}|latest)$")
# claude-sonnet-4-5 -> claude-sonnet-4.5 ; claude-3-7-sonnet -> claude-3.7-sonnet
_FAMILY_FIRST = re.compile(r"^(claude-(?:sonnet|opus|haiku))-(\d+)-(\d+)$")
_VERSION_FIRST = re.compile(r"^claude-(\d+)-(\d+)-(sonnet|opus|haiku)$")


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


# Used until ListAvailableModels answers (and whenever it fails).
FALLBACK_MODELS: tuple[ModelInfo, ...] = (
    _model("auto", "Auto"),
    _model("claude-sonnet-4.5", "Claude Sonnet 4.5"),
    _model("claude-sonnet-4", "Claude Sonnet 4"),
    _model("claude-haiku-4.5", "Claude Haiku 4.5"),
    _model("claude-opus-4.5", "Claude Opus 4.5"),
    _model("claude-sonnet-4.6", "Claude Sonnet 4.6", 1_000_000),
    _model("claude-opus-4.6", "Claude Opus 4.6", 1_000_000),
)


def normalize_model_id(name: str) -> str:
    """A client's model name in Kiro's spelling (dated and dashed Anthropic ids mapped)."""
    model = name.strip().lower()
    model = _DATE.sub("", model)
    if match := _FAMILY_FIRST.match(model):
        return f"{match.group(1)}-{match.group(2)}.{match.group(3)}"
    if match := _VERSION_FIRST.match(model):
        return f"claude-{match.group(1)}.{match.group(2)}-{match.group(3)}"
    return model


def resolve_model_id(name: str, models: Iterable[ModelInfo]) -> ModelInfo:
    """The model a client name means, or NotFound listing every valid id."""
    by_id = {m.id: m for m in models}
    for candidate in (name, name.strip().lower(), normalize_model_id(name)):
        if candidate in by_id:
            return by_id[candidate]
    valid = ", ".join(f"kiro/{model_id}" for model_id in by_id)
    raise NotFound(
        f"model {name!r} is not available on kiro. Valid models: {valid}.", param="model"
    )


def parse_model_list(body: Mapping[str, Any]) -> list[ModelInfo]:
    """ListAvailableModels' answer as ModelInfo (entries without a modelId are skipped)."""
    models: list[ModelInfo] = []
    for entry in body.get("models") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("modelId"), str):
            continue
        limits = entry.get("tokenLimits") or {}
        window = limits.get("maxInputTokens")
        output = limits.get("maxOutputTokens")
        inputs = entry.get("supportedInputTypes") or []
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
            )
        )
    return models
