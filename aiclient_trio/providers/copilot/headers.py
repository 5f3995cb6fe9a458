"""The one place that decides the headers sent to GitHub and to the Copilot API (CAPI).

Stale or missing editor headers break new models upstream, so every value is configurable
(docs/copilot.md §3); X-Initiator (billing) is decided in `initiator` and passed in here.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiclient_trio.config.types import CopilotConfig

__all__ = [
    "KNOWN_ANTHROPIC_BETAS",
    "capi_headers",
    "filter_anthropic_beta",
    "github_headers",
]

# anthropic-beta values the Copilot /v1/messages endpoint is known to accept; others are
# dropped rather than risking a 400 for the whole request.
KNOWN_ANTHROPIC_BETAS: frozenset[str] = frozenset(
    {
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
        "advanced-tool-use-2025-11-20",
    }
)


def github_headers(config: CopilotConfig, github_token: str | None = None) -> dict[str, str]:
    """Headers for api.github.com calls (token exchange, user, quota, device flow)."""
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "editor-version": config.editor_version,
        "editor-plugin-version": config.editor_plugin_version,
        "user-agent": config.user_agent,
        "x-github-api-version": config.github_api_version,
        "x-vscode-user-agent-library-version": "electron-fetch",
    }
    if github_token is not None:
        headers["authorization"] = f"token {github_token}"
    return headers


def capi_headers(
    config: CopilotConfig,
    copilot_token: str,
    *,
    request_id: str,
    initiator: str | None = None,
    vision: bool = False,
    intent: str = "conversation-agent",
) -> dict[str, str]:
    """Headers for one CAPI call; `initiator` drives billing (user = one premium request)."""
    headers = {
        "authorization": f"Bearer {copilot_token}",
        "content-type": "application/json",
        "accept": "application/json",
        "copilot-integration-id": "vscode-chat",
        "editor-version": config.editor_version,
        "editor-plugin-version": config.editor_plugin_version,
        "user-agent": config.user_agent,
        "openai-intent": intent,
        "x-interaction-type": intent,
        "x-github-api-version": config.api_version,
        "x-request-id": request_id,
        "x-agent-task-id": request_id,
        "x-vscode-user-agent-library-version": "electron-fetch",
    }
    if initiator is not None:  # chat calls only: it decides premium billing
        headers["x-initiator"] = initiator
    if vision:
        headers["copilot-vision-request"] = "true"
    return headers


def filter_anthropic_beta(inbound: Mapping[str, str]) -> dict[str, str]:
    """The anthropic-version / filtered anthropic-beta headers to forward on /v1/messages."""
    out: dict[str, str] = {}
    version = inbound.get("anthropic-version")
    if version:
        out["anthropic-version"] = version
    raw = inbound.get("anthropic-beta", "")
    kept = [b.strip() for b in raw.split(",") if b.strip() in KNOWN_ANTHROPIC_BETAS]
    if kept:
        out["anthropic-beta"] = ",".join(dict.fromkeys(kept))
    return out
