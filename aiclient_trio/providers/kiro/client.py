"""Kiro HTTP details: sign-in hosts, machine id, the error table (kiro.md 8.4, kiro-2026.md 7).

Host families, their headers and URLs live in `endpoints`.

Pure functions; the provider does the I/O. Upstream messages are passed on in errors, but
never anything from our request (tokens stay out of every message).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from aiclient_trio import untrusted
from aiclient_trio.config.types import KiroConfig
from aiclient_trio.errors import (
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from aiclient_trio.providers.kiro import endpoints

__all__ = [
    "BEARER_INVALID",
    "FIX_COMMAND",
    "account_trouble",
    "api_base",
    "api_region",
    "is_bearer_invalid",
    "is_signature_invalid",
    "machine_id",
    "map_http_error",
    "oidc_base",
    "social_base",
]

BEARER_INVALID = "bearer token included in the request is invalid"
FIX_COMMAND = "aiclient auth kiro"
_QUOTA_REASONS = (
    "MONTHLY_REQUEST_COUNT",
    "DAILY_REQUEST_COUNT",
    "OVERAGE_REQUEST_LIMIT_EXCEEDED",
    "CONVERSATION_LIMIT_EXCEEDED",
    "USAGE_LIMIT_REACHED",
)
# 400 reasons/messages that are the client's own request's fault, said in plain words.
_CLIENT_ERRORS = (
    ("TOOL_USE_RESULT_MISMATCH", "tool results do not match the tool calls before them"),
    ("TOOL_SCHEMA_INVALID", "a tool's input schema was refused"),
    ("invalid tool use format", "a tool call in the history has an invalid format"),
    ("context window is full", "the conversation no longer fits the model's context window"),
)


def api_region(config: KiroConfig, profile_arn: str | None) -> str:
    """API region: configured, else the profile ARN's, else us-east-1."""
    return config.api_region or endpoints.region_of_arn(profile_arn) or "us-east-1"


def api_base(config: KiroConfig, region: str) -> str:
    """The chat URL tried first: the pinned family's, or runtime's in `auto` (api_url wins)."""
    return endpoints.chat_url(config, endpoints.family_order(config, None)[0], region)


def social_base(config: KiroConfig, region: str | None) -> str:
    # Social sign-in lives in us-east-1 whatever region the token names.
    del region
    return (config.auth_url or "https://prod.us-east-1.auth.desktop.kiro.dev").rstrip("/")


def oidc_base(config: KiroConfig, region: str | None) -> str:
    return (config.oidc_url or f"https://oidc.{region or 'us-east-1'}.amazonaws.com").rstrip("/")


def machine_id(record: Mapping[str, Any]) -> str:
    """64 hex chars, stable per account (not per host): SHA-256 of the account's identity."""
    seed = (
        record.get("profileArn")
        or record.get("clientId")
        or record.get("startUrl")
        or record.get("refreshToken")
        or "aiclient-trio"
    )
    return hashlib.sha256(str(seed).encode()).hexdigest()


def _parse(body: bytes) -> tuple[str, str]:
    try:
        data = untrusted.loads(body) if body else {}
    except ValueError:
        return body[:200].decode("utf-8", "replace"), ""
    if not isinstance(data, dict):
        return "", ""
    message = str(data.get("message") or data.get("Message") or "")
    reason = str(data.get("reason") or "")
    return message, reason


def _error_type(headers: Mapping[str, str], body: bytes) -> str:
    name = headers.get("x-amzn-errortype", "")
    if not name:
        try:
            data = untrusted.loads(body)
            name = str(data.get("__type", "")) if isinstance(data, dict) else ""
        except ValueError:
            name = ""
    return name.split("#")[-1].split(":")[0]


def is_bearer_invalid(status: int, body: bytes) -> bool:
    return status in (401, 403) and BEARER_INVALID in body.decode("utf-8", "replace").lower()


def is_signature_invalid(status: int, body: bytes) -> bool:
    return status == 400 and _parse(body)[1] == "THINKING_SIGNATURE_INVALID"


def account_trouble(status: int, body: bytes) -> str | None:
    """What is wrong with the account when Kiro restricted, suspended or locked it."""
    message = _parse(body)[0]
    lowered = message.lower()
    if status == 429 and "suspicious activity" in lowered:
        return f"Kiro restricted this account for suspicious activity ({message})"
    if status == 403 and ("suspended" in lowered or "locked your account" in lowered):
        return f"Kiro suspended or locked this account ({message})"
    return None


def map_http_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """A non-200 answer from GenerateAssistantResponse as the error clients should see."""
    message, reason = _parse(body)
    kind = _error_type(headers, body)
    said = f"Kiro: {message}" if message else f"Kiro answered HTTP {status}"
    retry_after: float | None = None
    try:
        retry_after = float(headers.get("retry-after", ""))
    except ValueError:
        retry_after = None
    lowered = message.lower()
    if status == 400:
        if reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD" or "too long" in lowered:
            return ContextLengthExceeded(f"prompt is too long ({said})", param="messages")
        if reason == "INVALID_MODEL_ID":
            return NotFound(f"{said} (the model id is not available on Kiro)", param="model")
        for marker, meaning in _CLIENT_ERRORS:
            if marker == reason or marker in lowered:
                if marker == "context window is full":
                    return ContextLengthExceeded(f"prompt is too long: {meaning} ({said})")
                return InvalidRequest(
                    f"Kiro refused the request: {meaning} ({said}"
                    + (f", {reason})" if reason else ")"),
                    param="messages",
                )
        return InvalidRequest(f"{said} The converted request was refused.")
    if status in (401, 403) and is_bearer_invalid(status, body):
        return ProviderUnavailable(
            f"Kiro rejected the gateway's access token even after a refresh; run `{FIX_COMMAND}`",
            should_retry=False,
        )
    trouble = account_trouble(status, body)
    if trouble:
        return PermissionDenied(
            f"{trouble}. Sign in with another account (`{FIX_COMMAND}`) or contact Kiro support."
        )
    if status == 401:
        detail = f": {message}" if message else ""
        return ProviderUnavailable(
            f"Kiro refused the gateway's credential (HTTP 401{detail}); run `{FIX_COMMAND}`",
            should_retry=False,
        )
    if status == 403:
        return PermissionDenied(said)
    quota_reason = reason in _QUOTA_REASONS or reason.endswith("_REQUEST_COUNT")
    if status == 402 or quota_reason or kind.startswith("ServiceQuotaExceeded"):
        # Spent: retrying cannot help until the reset (QuotaExceeded says x-should-retry: false).
        return QuotaExceeded(f"{said} (Kiro quota exhausted; see `aiclient usage`)")
    if status == 429:
        return RateLimited(said, retry_after=retry_after)
    if status == 408:
        return UpstreamTimeout(said)
    if status >= 500:
        if status == 503 or reason == "MODEL_TEMPORARILY_UNAVAILABLE":
            return Overloaded(said, retry_after=retry_after)
        return UpstreamError(said, status=500)
    return UpstreamError(said)
