"""Typed, immutable configuration snapshot.

The daemon swaps a whole `Config` on reload; a request keeps the snapshot it started with.
Loading, merging (flags > environment > file > defaults) and validation live in
`aiclient_trio.config.load`; this module only declares the shape and the defaults, so every
part of the code base can depend on it without pulling in I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Config",
    "CopilotConfig",
    "KiroConfig",
    "LedgerConfig",
    "LoggingConfig",
    "OutputFormat",
    "ServerConfig",
    "UpstreamConfig",
]

OutputFormat = Literal["native", "openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9090
    drain_timeout: float = 30.0
    # Extra Host header names accepted besides localhost, 127.0.0.1, [::1] and `host`.
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 64
    # Seconds a request body may take to arrive in full (a stalled upload gets 408).
    body_timeout: float = 60.0
    # Whether /readyz and /metrics require the API key too (/healthz never does).
    protect_probes: bool = False
    # Token bucket per client, requests per minute (0 = unlimited) and FIFO queue depth.
    rate_limit_rpm: int = 0
    rate_limit_queue: int = 64
    # Stream write coalescing window in milliseconds (0-100; 0 = every event alone): events
    # arriving within it of the previous write leave together, at most this much later.
    stream_coalesce_ms: float = 4.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Timeouts and retries for every upstream call (seconds)."""

    connect_timeout: float = 10.0
    first_byte_timeout: float = 300.0
    idle_timeout: float = 120.0
    retries: int = 2
    # A 429 whose retry-after is longer than this is passed to the client, not retried.
    max_retry_after: float = 10.0
    circuit_failures: int = 5
    circuit_cooldown: float = 30.0


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"
    file: str | None = None  # default: $XDG_STATE_HOME/aiclient/aiclient.log
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    enabled: bool = True
    retention_days: int = 90


@dataclass(frozen=True, slots=True)
class CopilotConfig:
    enabled: bool = True
    account_type: Literal["individual", "business", "enterprise"] = "individual"
    enterprise_domain: str | None = None
    # Upstream base URLs; tests and the simulators point them at 127.0.0.1.
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    # CAPI base override; by default the token exchange's `endpoints.api` is used.
    api_url: str | None = None
    # The client Copilot believes it talks to (docs/copilot.md §3). Copilot refuses outdated
    # versions with HTTP 466: raise these (see `aiclient version --check`) when it does.
    editor_version: str = "vscode/1.122.1"
    editor_plugin_version: str = "copilot-chat/0.50.1"
    user_agent: str = "GitHubCopilotChat/0.50.1"
    # X-GitHub-Api-Version on CAPI calls (chat, responses, messages, models, embeddings)...
    api_version: str = "2026-06-01"
    # ...and on GitHub's own endpoints (token exchange, /copilot_internal/user), still older.
    github_api_version: str = "2025-04-01"
    # anthropic-version on /v1/messages: "forward" the client's (the agent host does),
    # "drop" it (the chat extension does), or a fixed value such as "2023-06-01".
    anthropic_version: str = "forward"
    # Copilot-Vision-Request on image requests: "chat" (/chat/completions only, as the
    # official client does) or "all" (also /responses and /v1/messages, as some proxies do).
    vision_header: Literal["chat", "all"] = "chat"
    # How the account pays: "credits" (AI credits per token, most plans since 2026-06-01),
    # "premium_requests" (annual Pro/Pro+ kept on the old scheme) or "auto" (what
    # /copilot_internal/user says, else credits).
    billing: Literal["auto", "credits", "premium_requests"] = "auto"
    # Model used for haiku-class background requests ("" = no rerouting).
    small_model: str = ""
    models_ttl: float = 600.0


@dataclass(frozen=True, slots=True)
class KiroConfig:
    enabled: bool = True
    # Which chat host family to call (docs/kiro.md): "auto" tries runtime, then q, then
    # codewhisperer, moving on only when a host is gone (never on 429/402).
    endpoint: Literal["auto", "runtime", "codewhisperer", "q"] = "auto"
    # Host templates per family; `{region}` is the API region. Tests point them at 127.0.0.1.
    runtime_url: str = "https://runtime.{region}.kiro.dev"
    q_url: str = "https://q.{region}.amazonaws.com"
    codewhisperer_url: str = "https://codewhisperer.us-east-1.amazonaws.com"
    management_url: str = "https://management.{region}.kiro.dev"
    # Chat URL override: every chat call goes there, with the `endpoint` family's protocol
    # (runtime when "auto"), and no fallback.
    api_url: str | None = None
    # Social refresh base override (default https://prod.{auth_region}.auth.desktop.kiro.dev).
    auth_url: str | None = None
    # OIDC base override (default https://oidc.{sso_region}.amazonaws.com).
    oidc_url: str | None = None
    api_region: str | None = None  # default: from the profile ARN, else us-east-1
    # The Kiro IDE persona's versions (user agent); Kiro updates them often.
    kiro_version: str = "1.0.437"
    node_version: str = "22.22.0"
    # TokenType: SSO_OIDC for Builder ID / Identity Center tokens (the IDE sends it; one
    # kiro-cli capture does not). API keys always send API_KEY, external IdP EXTERNAL_IDP.
    idc_token_type: bool = True
    # Builder ID has no profile but runtime demands one: Kiro's own fixed profile ARN.
    builder_id_profile_arn: str = (
        "arn:aws:codewhisperer:us-east-1:638616132270:profile/AAAACCCCXXXX"
    )
    # GetUsageLimits' x-amz-target service; the other one is tried when this is unknown.
    usage_limits_service: Literal["KiroControlPlaneBearerService", "AmazonCodeWhispererService"] = (
        "KiroControlPlaneBearerService"
    )
    # Local guard: bodies above this many bytes get "prompt is too long" without a call.
    max_request_bytes: int = 600_000
    # Tool descriptions longer than this move into the system prompt (a pointer stays).
    max_tool_description: int = 10_000
    models_ttl: float = 600.0


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    api_key: str | None = None
    default_provider: str = "copilot"
    output_format: OutputFormat = "native"
    copilot: CopilotConfig = field(default_factory=CopilotConfig)
    kiro: KiroConfig = field(default_factory=KiroConfig)
    # client-visible name -> one "provider/model" target or an ordered fallback chain.
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
