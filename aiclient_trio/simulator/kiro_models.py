"""The simulated Kiro model catalogue, its ListAvailableModels answer and the effort schema.

Ids and limits follow kiro-2026.md section 6 (late 2026). Models with an
`additionalModelRequestFieldsSchema` take their thinking effort in the body's
`additionalModelRequestFields`; the simulator refuses fields the schema does not allow
(the 5.5 models refuse `thinking.type: disabled`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CONTEXT_WINDOW",
    "DEFAULT_MODELS",
    "check_model_fields",
    "effort_on",
    "list_models_answer",
    "model_entry",
]

CONTEXT_WINDOW = 200_000
_EFFORTS = ["low", "medium", "high", "max"]


def _claude_schema(thinking_types: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "thinking": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"type": {"type": "string", "enum": thinking_types}},
            },
            "output_config": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"effort": {"type": "string", "enum": _EFFORTS}},
            },
        },
    }


_GPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reasoning": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"effort": {"type": "string", "enum": ["low", "medium", "high"]}},
        }
    },
}


def model_entry(
    model_id: str,
    name: str,
    window: int = CONTEXT_WINDOW,
    *,
    output: int = 64_000,
    multiplier: float = 1.0,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "modelId": model_id,
        "modelName": name,
        "window": window,
        "output": output,
        "rateMultiplier": multiplier,
    }
    if schema is not None:
        entry["schema"] = schema
    return entry


_ADAPTIVE = _claude_schema(["adaptive", "disabled"])
_ADAPTIVE_ONLY = _claude_schema(["adaptive"])
DEFAULT_MODELS: list[dict[str, Any]] = [
    model_entry("auto", "Auto", multiplier=1.0),
    model_entry("claude-sonnet-4.5", "Claude Sonnet 4.5", multiplier=1.3),
    model_entry("claude-sonnet-4", "Claude Sonnet 4", multiplier=1.3),
    model_entry("claude-haiku-4.5", "Claude Haiku 4.5", multiplier=0.4),
    model_entry("claude-opus-4.5", "Claude Opus 4.5", multiplier=2.2),
    model_entry("claude-sonnet-4.6", "Claude Sonnet 4.6", 1_000_000, multiplier=1.3),
    model_entry("claude-opus-4.6", "Claude Opus 4.6", 1_000_000, multiplier=2.2, schema=_ADAPTIVE),
    model_entry("claude-opus-4.7", "Claude Opus 4.7", 1_000_000, multiplier=2.2, schema=_ADAPTIVE),
    model_entry("claude-opus-4.8", "Claude Opus 4.8", 1_000_000, multiplier=2.2, schema=_ADAPTIVE),
    model_entry("claude-sonnet-5", "Claude Sonnet 5", 1_000_000, multiplier=1.3, schema=_ADAPTIVE),
    model_entry("claude-opus-5", "Claude Opus 5", 1_000_000, multiplier=2.2, schema=_ADAPTIVE),
    model_entry(
        "claude-sonnet-5.5", "Claude Sonnet 5.5", 1_000_000, multiplier=1.3, schema=_ADAPTIVE_ONLY
    ),
    model_entry(
        "claude-opus-5.5", "Claude Opus 5.5", 1_000_000, multiplier=2.2, schema=_ADAPTIVE_ONLY
    ),
    model_entry("gpt-5.6-sol", "GPT-5.6 Sol", 272_000, output=128_000, schema=_GPT_SCHEMA),
    model_entry("gpt-5.6-terra", "GPT-5.6 Terra", 272_000, output=128_000, schema=_GPT_SCHEMA),
    model_entry("gpt-5.6-luna", "GPT-5.6 Luna", 272_000, output=128_000, schema=_GPT_SCHEMA),
]


def list_models_answer(models: list[dict[str, Any]]) -> dict[str, Any]:
    listed = []
    for m in models:
        entry: dict[str, Any] = {
            "modelId": m["modelId"],
            "modelName": m["modelName"],
            "description": m["modelName"],
            "supportedInputTypes": ["TEXT", "IMAGE"],
            "tokenLimits": {
                "maxInputTokens": m["window"],
                "maxOutputTokens": m.get("output", 64_000),
            },
            "rateMultiplier": m.get("rateMultiplier", 1.0),
            "rateUnit": "credit",
            "promptCaching": {"supportsPromptCaching": m["modelId"] != "auto"},
        }
        if m.get("schema") is not None:
            entry["additionalModelRequestFieldsSchema"] = m["schema"]
        listed.append(entry)
    default = {"modelId": listed[0]["modelId"], "modelName": listed[0]["modelName"]}
    return {"models": listed, "defaultModel": default, "nextToken": None}


def _check(value: Any, schema: dict[str, Any], where: str) -> str | None:
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return f"{where} must be an object"
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if key not in properties:
                if schema.get("additionalProperties") is False:
                    return f"{where}.{key} is not allowed"
                continue
            problem = _check(item, properties[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if kind == "string" and not isinstance(value, str):
        return f"{where} must be a string"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}"
    return None


def check_model_fields(model: dict[str, Any], fields: Any) -> str | None:
    """Why `additionalModelRequestFields` does not fit the model's schema, or None."""
    schema = model.get("schema")
    if schema is None:
        return f"model {model['modelId']} takes no additionalModelRequestFields"
    return _check(fields, schema, "additionalModelRequestFields")


def effort_on(fields: Any) -> bool:
    """Thinking asked for through additionalModelRequestFields (Claude or GPT shape)."""
    if not isinstance(fields, dict):
        return False
    thinking = fields.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        return True
    return isinstance(fields.get("reasoning"), dict)
