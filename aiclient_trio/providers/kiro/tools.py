"""Tool specs for CodeWhisperer: reversible name shortening and schema hygiene (rule 7, 8).

Kiro refuses names over 64 characters and tolerates little in schemas. Names are shortened
deterministically (prefix + SHA-256 digest) and restored in responses through `ToolNames`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiclient_trio import ir

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_TOOL_NAME",
    "ToolNames",
    "clean_schema",
    "drop_empty_keys",
    "tool_spec",
]

MAX_TOOL_NAME = 64
# The service's tool-name rule (kiro-2026.md section 8).
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
# Descriptions above this move into the system prompt, a pointer stays in the spec.
MAX_DESCRIPTION = 10_000
# Keys stripped from every schema level. The service accepts `$schema` (peers send it) and
# `additionalProperties`; only nulls go. Add keys here to change the policy.
STRIPPED_SCHEMA_KEYS: frozenset[str] = frozenset()


class ToolNames:
    """Client tool name <-> name sent upstream (<= 64 chars, unique ignoring case)."""

    def __init__(self) -> None:
        self._upstream: dict[str, str] = {}
        self._client: dict[str, str] = {}

    def upstream(self, name: str) -> str:
        if name in self._upstream:
            return self._upstream[name]
        short = name
        taken = {n.lower() for n in self._client}
        if not TOOL_NAME.match(name) or name.lower() in taken:
            # Unsafe characters become "_"; a digest of the original keeps it unique.
            digest = hashlib.sha256(name.encode()).hexdigest()[:11]
            safe = _NAME_UNSAFE.sub("_", name)
            short = f"{safe[: MAX_TOOL_NAME - 12]}_{digest}"
        self._upstream[name] = short
        self._client[short] = name
        return short

    def client(self, upstream_name: str) -> str:
        """The client's name for a name the upstream used (unknown names pass through)."""
        return self._client.get(upstream_name, upstream_name)

    def mapping(self) -> dict[str, str]:
        """upstream name -> client name, for every name that differs."""
        return {short: name for short, name in self._client.items() if short != name}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if v is not None and k not in STRIPPED_SCHEMA_KEYS
        }
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def clean_schema(schema: Any) -> dict[str, Any]:
    """An object schema the service accepts: nulls and `$schema` gone, sane top level."""
    cleaned = _clean(schema) if isinstance(schema, dict) else {}
    kind = cleaned.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str) and k != "null"), "object")
    cleaned["type"] = kind if isinstance(kind, str) else "object"
    if "properties" in cleaned and not isinstance(cleaned["properties"], dict):
        cleaned["properties"] = {}
    if "required" in cleaned:
        required = cleaned["required"]
        cleaned["required"] = (
            [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        )
    return cleaned


def drop_empty_keys(value: Any) -> Any:
    """Tool inputs without `""` keys, at every level (the service rejects them)."""
    if isinstance(value, dict):
        return {k: drop_empty_keys(v) for k, v in value.items() if k != ""}
    if isinstance(value, list):
        return [drop_empty_keys(v) for v in value]
    return value


def tool_spec(
    tool: ir.Tool, names: ToolNames, *, max_description: int = MAX_DESCRIPTION
) -> tuple[dict[str, Any], str | None]:
    """The spec, and the full description when it is too long for the spec (it then goes
    into the system prompt and the spec points there; nothing is cut)."""
    name = names.upstream(tool.name)
    description = tool.description.strip() or f"Tool: {tool.name}"
    moved: str | None = None
    if len(description) > max_description:
        moved = description
        description = (
            f"Tool {name}: its full description is in the system prompt, in the section "
            f'"Tool {name}".'
        )
    spec = {
        "toolSpecification": {
            "name": name,
            "description": description,
            "inputSchema": {"json": clean_schema(tool.input_schema)},
        }
    }
    return spec, moved
