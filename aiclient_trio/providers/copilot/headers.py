"""The one place that decides the headers sent to GitHub and to the Copilot API (CAPI).

Stale or missing editor headers break new models upstream, so every value is configurable
(docs/copilot.md §3); X-Initiator (billing) is decided in `initiator` and passed in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.providers.copilot.interaction import DeviceIds

__all__ = [
    "ANTHROPIC_BETA_FAMILIES",
    "CallHeaders",
    "capi_headers",
    "claude_code_user_agent",
    "filter_anthropic_beta",
    "github_headers",
]

# anthropic-beta families Copilot's /v1/messages is known to take, kept whatever their date
# (`interleaved-thinking-2025-05-14`...); others are dropped rather than risking a 400.
ANTHROPIC_BETA_FAMILIES: tuple[str, ...] = (
    "interleaved-thinking-",
    "context-management-",
    "advanced-tool-use-",
    "per-turn-control-",
)


@dataclass(frozen=True, slots=True)
class CallHeaders:
    """What one CAPI call says about itself (the provider decides, headers renders)."""

    request_id: str
    initiator: str | None = None  # chat calls only
    vision: bool = False
    intent: str = "conversation-agent"
    interaction_type: str | None = None  # None: the intent
    interaction_id: str | None = None
    # /v1/messages as the Claude Code proxy: messages-proxy intent, the client's UA.
    messages_proxy: bool = False
    client_user_agent: str = ""


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


def claude_code_user_agent(client_user_agent: str, config: CopilotConfig) -> str:
    """`vscode_claude_code/` + the client's UA from its first `/` (`claude-cli/2.1.112 (...)`
    -> `vscode_claude_code/2.1.112 (...)`), as the official Claude proxy sends it."""
    _, slash, rest = client_user_agent.partition("/")
    if slash and rest:
        return f"vscode_claude_code/{rest}"
    return f"vscode_claude_code/{config.editor_plugin_version.partition('/')[2] or '0'}"


def capi_headers(
    config: CopilotConfig,
    copilot_token: str,
    call: CallHeaders,
    device: DeviceIds | None = None,
    *,
    sku: str | None = None,
) -> dict[str, str]:
    """Headers for one CAPI call; `call.initiator` drives per-request billing."""
    intent = "messages-proxy" if call.messages_proxy else call.intent
    headers = {
        "authorization": f"Bearer {copilot_token}",
        "content-type": "application/json",
        "accept": "application/json",
        "editor-version": config.editor_version,
        "editor-plugin-version": config.editor_plugin_version,
        "user-agent": config.user_agent,
        "openai-intent": intent,
        "x-interaction-type": call.interaction_type or intent,
        "x-github-api-version": config.api_version,
        "x-request-id": call.request_id,
        "x-agent-task-id": call.request_id,
        "x-vscode-user-agent-library-version": "electron-fetch",
    }
    if call.messages_proxy:  # the Claude proxy sends no integration id
        headers["user-agent"] = claude_code_user_agent(call.client_user_agent, config)
    else:
        limited = sku == "no_auth_limited_copilot"
        headers["copilot-integration-id"] = "vscode-nl" if limited else "vscode-chat"
    if device is not None:
        headers["vscode-sessionid"] = device.session_id
        headers["vscode-machineid"] = device.machine_id
        headers["editor-device-id"] = device.device_id
    if call.interaction_id:
        headers["x-interaction-id"] = call.interaction_id
    if call.initiator is not None:  # chat calls only: it decides premium billing
        headers["x-initiator"] = call.initiator
    if call.vision:
        headers["copilot-vision-request"] = "true"
    return headers


def filter_anthropic_beta(inbound: Mapping[str, str], config: CopilotConfig) -> dict[str, str]:
    """The anthropic-version / filtered anthropic-beta headers to forward on /v1/messages."""
    out: dict[str, str] = {}
    version = inbound.get("anthropic-version")
    setting = config.anthropic_version
    if setting == "forward" and version:
        out["anthropic-version"] = version
    elif setting not in ("forward", "drop"):
        out["anthropic-version"] = setting
    raw = inbound.get("anthropic-beta", "")
    values = [b.strip() for b in raw.split(",")]
    kept = [
        b
        for b in values
        if any(b.startswith(f) and len(b) > len(f) for f in ANTHROPIC_BETA_FAMILIES)
    ]
    if kept:
        out["anthropic-beta"] = ",".join(dict.fromkeys(kept))
    return out
