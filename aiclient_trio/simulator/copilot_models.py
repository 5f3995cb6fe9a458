"""The models the simulated Copilot API lists: one of each routing case (F3 of the reference).

Chat-only, chat + responses, chat + native messages (Claude), responses-only (codex), a model
whose policy is not enabled, a tiny-context model for overflow tests, and an embedding model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SIM_MODELS"]


def _model(
    mid: str,
    vendor: str,
    endpoints: list[str] | None,
    *,
    prompt: int = 128000,
    output: int = 16384,
    vision: bool = True,
    enabled: bool = True,
    extra: dict[str, Any] | None = None,
    non_streaming: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": mid,
        "name": mid.upper(),
        "vendor": vendor,
        "version": mid,
        "object": "model",
        "preview": False,
        "model_picker_enabled": True,
        "billing": {
            "is_premium": vendor == "Anthropic",
            "multiplier": 1 if vendor == "Anthropic" else 0,
        },
        "policy": {"state": "enabled" if enabled else "unconfigured", "terms": ""},
        "capabilities": {
            "type": "chat",
            "family": mid,
            "tokenizer": "o200k_base",
            "object": "model_capabilities",
            "limits": {
                "max_context_window_tokens": max(
                    prompt, 200000 if vendor == "Anthropic" else prompt
                ),
                "max_prompt_tokens": prompt,
                "max_output_tokens": output,
                # A non-stream answer longer than this is refused: it would outlast the
                # service's request timeout (2026 captures: 16000 vs 64000).
                **({"max_non_streaming_output_tokens": non_streaming} if non_streaming else {}),
                **({"vision": dict(_VISION)} if vision else {}),
            },
            "supports": {
                "streaming": True,
                "tool_calls": True,
                "parallel_tool_calls": True,
                "vision": vision,
                **(extra or {}),
            },
        },
    }
    if endpoints is not None:
        entry["supported_endpoints"] = endpoints
    return entry


_VISION: dict[str, Any] = {
    "max_prompt_image_size": 3 * 1024 * 1024,
    "max_prompt_images": 5,
    "supported_media_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
}

SIM_MODELS: list[dict[str, Any]] = [
    _model("gpt-4o", "Azure OpenAI", ["/chat/completions"]),
    _model("gpt-4.1", "Azure OpenAI", ["/chat/completions", "/responses"]),
    _model(
        "gpt-5-mini",
        "Azure OpenAI",
        ["/chat/completions", "/responses"],
        extra={"reasoning_effort": ["low", "medium", "high"]},
    ),
    _model(
        "claude-sonnet-4.5",
        "Anthropic",
        ["/chat/completions", "/v1/messages"],
        output=64000,
        non_streaming=16000,
        extra={"max_thinking_budget": 32000, "min_thinking_budget": 1024},
    ),
    _model("claude-haiku-4.5", "Anthropic", ["/chat/completions", "/v1/messages"], output=8192),
    _model(
        "gpt-5-codex",
        "OpenAI",
        ["/responses"],
        output=64000,
        vision=False,
        extra={"reasoning_effort": ["low", "medium", "high"]},
    ),
    _model("claude-opus-4.1", "Anthropic", ["/chat/completions", "/v1/messages"], enabled=False),
    _model("tiny-context", "Azure OpenAI", None, prompt=64, vision=False),
    {
        "id": "text-embedding-3-small",
        "name": "Embedding V3 small",
        "vendor": "Azure OpenAI",
        "object": "model",
        "capabilities": {
            "type": "embeddings",
            "family": "text-embedding-3-small",
            "tokenizer": "cl100k_base",
            "limits": {"max_inputs": 512},
            "supports": {"dimensions": True},
        },
    },
]
