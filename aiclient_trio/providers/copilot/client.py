"""Calls to the Copilot API: one pooled HTTP client, 401/403 refresh-and-replay, error mapping.

Upstream error statuses keep their meaning (fixture F10): each becomes the GatewayError the
client's format renders; bodies are read exactly once and may be JSON or plain text.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from aiclient_trio import ir, untrusted
from aiclient_trio.config.types import CopilotConfig, UpstreamConfig
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
    RequestTooLarge,
    UpstreamError,
    UpstreamTimeout,
)
from aiclient_trio.providers.copilot.auth import (
    CopilotToken,
    ExchangeRateLimited,
    NoCopilotAccess,
    TokenManager,
    TokenRevoked,
)
from aiclient_trio.providers.copilot.headers import CallHeaders, capi_headers
from aiclient_trio.providers.copilot.interaction import DeviceIds
from aiclient_trio.upstream import Pool, Response, Timeouts
from aiclient_trio.upstream.failures import transport_error

__all__ = [
    "CapiClient",
    "make_pool",
    "map_upstream_error",
    "version_refused",
]

_MAX_MESSAGE = 500


def make_pool(upstream: UpstreamConfig) -> Pool:
    """The provider's one connection pool (CAPI calls directly; sign-in, token and quota
    calls through httpx on it). `read` bounds both the wait for the first byte and the idle
    time between chunks."""
    return Pool(
        Timeouts(
            connect=upstream.connect_timeout,
            read=max(upstream.first_byte_timeout, upstream.idle_timeout),
            write=60.0,
            pool=upstream.connect_timeout,
        )
    )


def _extract(raw: bytes, content_type: str) -> tuple[str, str | None]:
    """(message, code) from an upstream error body of any shape."""
    text = raw.decode("utf-8", "replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            data = untrusted.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                code = error.get("code") or error.get("type")
                message = str(error.get("message") or code or text)
                return message, str(code) if code else None
            if isinstance(error, str):
                return error, None
            if isinstance(data.get("message"), str):
                return data["message"], None
    return text or "no details", None


# Error codes by prefix (docs/copilot.md §8): quota codes never mend by retrying soon;
# rate-limit codes (503 upstream_provider_rate_limit included) do, after retry-after.
_QUOTA_ADVICE: dict[str, str] = {
    "quota_exceeded": "your plan's AI credits (or premium requests) for this period are used "
    "up: allow overage at https://github.com/settings/copilot, wait for the reset "
    "(`aiclient usage` shows it) or pick an included model",
    "free_quota_exceeded": "Copilot Free's monthly allowance is used up: upgrade at "
    "https://github.com/settings/copilot or wait for the reset (`aiclient usage` shows it)",
    "overage_limit_reached": "the overage budget you set is reached: raise it at "
    "https://github.com/settings/billing or wait for the reset",
    "billing_not_configured": "paid usage needs billing set up: add a payment method at "
    "https://github.com/settings/billing or pick an included model",
}
_RATE_CODES = (
    "rate_limited",
    "user_model_rate_limited",
    "user_global_rate_limited",
    "integration_rate_limited",
    "upstream_provider_rate_limit",
    "agent_mode_limit_exceeded",
)


def _quota_code(code: str | None) -> str | None:
    """The quota family of an error code (`quota_exceeded_monthly` -> `quota_exceeded`)."""
    if not code:
        return None
    for prefix in ("free_quota_exceeded", "quota_exceeded", "overage_limit_reached"):
        if code.startswith(prefix):
            return prefix
    return "billing_not_configured" if code.startswith("billing_not_configured") else None


def _retry_after(headers: Mapping[str, str], message: str) -> float | None:
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:  # an HTTP date (402 answers carry the quota reset this way)
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    match = re.search(
        r"try again in (\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?|h|hours?)?",
        message,
        re.I,
    )
    if not match:
        return None
    amount, unit = float(match.group(1)), (match.group(2) or "s").lower()
    if unit == "ms":
        return amount / 1000
    if unit.startswith("m"):
        return amount * 60
    if unit.startswith("h"):
        return amount * 3600
    return amount


def _context_message(message: str, inbound: ir.WireFormat) -> str:
    """Anthropic clients (Claude Code) compact on "prompt is too long: N tokens > M maximum"."""
    if inbound != "anthropic" or message.startswith("prompt is too long"):
        return message
    numbers = re.findall(r"\d+", message)
    if len(numbers) >= 2:
        return f"prompt is too long: {numbers[0]} tokens > {numbers[1]} maximum"
    return f"prompt is too long: {message}"


VERSION_SETTINGS = (
    "providers.copilot.api_version",
    "providers.copilot.editor_version",
    "providers.copilot.editor_plugin_version",
)


def version_refused(config: CopilotConfig, upstream_message: str = "") -> ProviderUnavailable:
    """HTTP 466: Copilot no longer accepts the client version we claim to be (§3)."""
    said = upstream_message.strip().rstrip(".")
    return ProviderUnavailable(
        "Copilot no longer accepts this client version "
        f"(X-GitHub-Api-Version {config.api_version}, {config.editor_version}, "
        f"{config.editor_plugin_version}; HTTP 466{': ' + said if said else ''}). "
        f"Set a newer `{VERSION_SETTINGS[0]}` (or `{VERSION_SETTINGS[1]}` / "
        f"`{VERSION_SETTINGS[2]}`), e.g. `aiclient config set {VERSION_SETTINGS[0]} "
        "2026-08-01`, and run `aiclient version --check` for a release that knows today's values",
        code="client_version_unsupported",
        should_retry=False,
    )


def map_upstream_error(
    status: int,
    raw: bytes,
    content_type: str,
    headers: Mapping[str, str],
    inbound: ir.WireFormat,
    config: CopilotConfig | None = None,
) -> GatewayError:
    """One upstream error answer as the GatewayError the client will see."""
    message, code = _extract(raw, content_type)
    message = message[:_MAX_MESSAGE]
    if status == 466:
        return version_refused(config or CopilotConfig(), message)
    lowered = message.lower()
    if code in ("model_max_prompt_tokens_exceeded", "context_length_exceeded") or (
        "prompt is too long" in lowered
    ):
        return ContextLengthExceeded(_context_message(message, inbound))
    quota = _quota_code(code)
    if quota is not None or status == 402 or code == "insufficient_quota":
        advice = _QUOTA_ADVICE.get(quota or "", _QUOTA_ADVICE["quota_exceeded"])
        return QuotaExceeded(
            f"Copilot quota exhausted ({code or 'HTTP ' + str(status)}: {message}); {advice}",
            code="insufficient_quota",
            retry_after=_retry_after(headers, message),
        )
    if status == 429 or (code or "").startswith(_RATE_CODES):
        return RateLimited(
            f"Copilot rate limit: {message}", retry_after=_retry_after(headers, message)
        )
    if status == 401:
        return ProviderUnavailable(
            f"Copilot refused the gateway's credential ({message}); run `aiclient auth copilot`",
            should_retry=False,  # as for Kiro: signing in again is the fix, not retrying
        )
    if status == 403:
        return PermissionDenied(f"Copilot refused the request: {message}")
    if status == 404:
        return NotFound(f"Copilot: {message}")
    if status == 413:
        return RequestTooLarge(f"Copilot: {message}")
    if code == "previous_response_not_found":
        return InvalidRequest(
            f"Copilot no longer has the response named in previous_response_id ({message}); "
            "it keeps unstored responses only briefly: send the full conversation in input "
            "(or start a new session)",
            param="previous_response_id",
            code=code,
        )
    if code == "model_not_supported":
        return InvalidRequest(
            f"{message} Enable the model in your GitHub Copilot settings "
            "(https://github.com/settings/copilot) or pick another from /v1/models.",
            param="model",
            code=code,
        )
    if 400 <= status < 500:
        return InvalidRequest(
            message, status=status if status in (400, 409, 422) else 400, code=code
        )
    if status in (503, 529):
        return Overloaded(f"Copilot is overloaded: {message}")

    if status == 504:
        return UpstreamTimeout(f"Copilot timed out: {message}")
    return UpstreamError(f"Copilot answered HTTP {status}: {message}")


class CapiClient:
    """POSTs to CAPI with the current token; one refresh and one replay on 401 or 403."""

    def __init__(self, http: Pool, config: CopilotConfig, tokens: TokenManager) -> None:
        self.http = http
        self.config = config
        self.tokens = tokens
        # Called when a refresh finds the GitHub token revoked or the seat gone.
        self.on_signed_out: Callable[[GatewayError], None] = lambda _exc: None
        # Called when CAPI refuses our client version (HTTP 466).
        self.on_version_refused: Callable[[GatewayError], None] = lambda _exc: None
        # The install's device ids and this run's session id (VScode-* headers).
        self.device: DeviceIds | None = None
        # Called with the headers of every answer that is not an error (quota snapshots).
        self.on_answer: Callable[[Mapping[str, str]], None] = lambda _headers: None

    async def _token(self, stale: CopilotToken | None) -> CopilotToken:
        """The current (or a fresh) token; sign-in problems become 503 for the client."""
        try:
            if stale is None:
                return await self.tokens.get()
            return await self.tokens.refresh(stale)
        except (TokenRevoked, NoCopilotAccess) as exc:
            self.on_signed_out(exc)
            raise ProviderUnavailable(exc.message, should_retry=False) from None
        except ExchangeRateLimited as exc:
            raise RateLimited(exc.message, retry_after=exc.retry_after) from None
        except GatewayError as exc:
            raise ProviderUnavailable(exc.message) from None
        except httpx.HTTPError as exc:
            raise transport_error(exc, "Copilot") from None

    async def get_json(self, path: str, request_id: str) -> Any:
        call = CallHeaders(request_id, intent="model-access")
        async with self.open("GET", path, None, call) as r:
            return untrusted.loads(await r.aread())

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | bytes | None,
        call: CallHeaders,
        *,
        extra_headers: Mapping[str, str] | None = None,
        inbound: ir.WireFormat = "openai_chat",
    ) -> AsyncIterator[Response]:
        """A streaming response with a 2xx status; closed (upstream call aborted) on exit.
        `body` is a JSON value, or its encoded bytes (a big body is encoded off the loop)."""
        if isinstance(body, bytes):
            content: bytes | None = body
        else:
            content = json.dumps(body).encode() if body is not None else None
        token = await self._token(None)
        for attempt in (1, 2):
            headers = capi_headers(self.config, token.token, call, self.device, sku=token.sku)
            headers.update(extra_headers or {})
            try:
                response = await self.http.open(
                    method, f"{token.api_url}{path}", headers=headers, content=content
                )
            except httpx.HTTPError as exc:
                raise transport_error(exc, "Copilot") from None
            if response.status_code < 400:
                self.on_answer(response.headers)
                break
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                raise transport_error(exc, "Copilot") from None
            finally:
                await response.aclose()
            # 401 and 403 both mean "get a new token" (a seat or policy change shows up as
            # 403 on a token minted before it); the replay's answer is final.
            if response.status_code in (401, 403) and attempt == 1:
                token = await self._token(token)
                if call.initiator is not None:  # a replay is never a new user turn
                    call = dataclasses.replace(call, initiator="agent")
                continue
            error = map_upstream_error(
                response.status_code,
                raw,
                response.headers.get("content-type", ""),
                response.headers,
                inbound,
                self.config,
            )
            if response.status_code == 466:
                self.on_version_refused(error)
            raise error
        try:
            yield response
        finally:
            await response.aclose()
