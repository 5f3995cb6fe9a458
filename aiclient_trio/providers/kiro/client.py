"""Kiro HTTP details in one place: base URLs, Kiro-IDE request headers, error mapping (8.4).

Pure functions; the provider does the I/O. Upstream messages are passed on in errors, but
never anything from our request (tokens stay out of every message).
"""

from __future__ import annotations

import hashlib
import platform
import uuid
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

__all__ = [
    "BEARER_INVALID",
    "FIX_COMMAND",
    "api_base",
    "api_region",
    "is_bearer_invalid",
    "machine_id",
    "map_http_error",
    "oidc_base",
    "request_headers",
    "social_base",
]

BEARER_INVALID = "bearer token included in the request is invalid"
FIX_COMMAND = "aiclient auth kiro"
SDK_VERSION = "1.0.34"
_API_REGIONS = ("us-east-1", "eu-central-1")
_QUOTA_REASONS = (
    "MONTHLY_REQUEST_COUNT",
    "DAILY_REQUEST_COUNT",
    "OVERAGE_REQUEST_LIMIT_EXCEEDED",
    "CONVERSATION_LIMIT_EXCEEDED",
)


def api_region(config: KiroConfig, profile_arn: str | None) -> str:
    """Inference region: configured, else the profile ARN's 4th field, else us-east-1."""
    if config.api_region:
        return config.api_region
    if profile_arn:
        fields = profile_arn.split(":")
        if len(fields) > 3 and fields[3] in _API_REGIONS:
            return fields[3]
    return "us-east-1"


def api_base(config: KiroConfig, region: str) -> str:
    return (config.api_url or f"https://q.{region}.amazonaws.com").rstrip("/")


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


def request_headers(
    access_token: str, *, machine: str, kiro_version: str, auth_method: str | None = None
) -> dict[str, str]:
    os_name = platform.system().lower() or "linux"
    agent = f"KiroIDE-{kiro_version}-{machine}"
    headers = {
        "authorization": f"Bearer {access_token}",
        "content-type": "application/json",
        "accept": "application/vnd.amazon.eventstream",
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": "attempt=1; max=3",
        "x-amzn-codewhisperer-optout": "true",
        "x-amzn-kiro-agent-mode": "vibe",
        "x-amz-user-agent": f"aws-sdk-js/{SDK_VERSION} {agent}",
        "user-agent": (
            f"aws-sdk-js/{SDK_VERSION} ua/2.1 os/{os_name}#{platform.release()} lang/js "
            f"md/nodejs#22.21.1 api/codewhispererstreaming#{SDK_VERSION} m/E {agent}"
        ),
    }
    if auth_method == "api_key":
        headers["tokentype"] = "API_KEY"
    elif auth_method == "external_idp":
        headers["tokentype"] = "EXTERNAL_IDP"
    return headers


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


def map_http_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """A non-200 answer from generateAssistantResponse as the error clients should see."""
    message, reason = _parse(body)
    kind = _error_type(headers, body)
    said = f"Kiro: {message}" if message else f"Kiro answered HTTP {status}"
    retry_after: float | None = None
    try:
        retry_after = float(headers.get("retry-after", ""))
    except ValueError:
        retry_after = None
    if status == 400:
        if reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD" or "too long" in message.lower():
            return ContextLengthExceeded(f"prompt is too long ({said})", param="messages")
        if reason == "INVALID_MODEL_ID":
            return NotFound(f"{said} (the model id is not available on Kiro)", param="model")
        return InvalidRequest(f"{said} The converted request was refused.")
    if status in (401, 403) and is_bearer_invalid(status, body):
        return ProviderUnavailable(
            f"Kiro rejected the gateway's access token even after a refresh; run `{FIX_COMMAND}`",
            should_retry=False,
        )
    if status == 401:
        detail = f": {message}" if message else ""
        return ProviderUnavailable(
            f"Kiro refused the gateway's credential (HTTP 401{detail}); run `{FIX_COMMAND}`",
            should_retry=False,
        )
    if status == 403:
        return PermissionDenied(said)
    if status == 402 or reason in _QUOTA_REASONS or kind.startswith("ServiceQuotaExceeded"):
        return QuotaExceeded(f"{said} (Kiro quota exhausted)")
    if status == 429:
        return RateLimited(said, retry_after=retry_after)
    if status == 408:
        return UpstreamTimeout(said)
    if status >= 500:
        if status == 503 or reason == "MODEL_TEMPORARILY_UNAVAILABLE":
            return Overloaded(said, retry_after=retry_after)
        return UpstreamError(said, status=500)
    return UpstreamError(said)
