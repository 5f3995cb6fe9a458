"""One gateway error hierarchy, and the one table that maps it to each wire format.

Every failure a client can see is a `GatewayError` carrying an HTTP status and a kind.
`error_body()` renders it as an OpenAI, Anthropic or Responses error; nothing else in the
code base decides error shapes. Messages never contain credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aiclient_trio.redact import redact

__all__ = [
    "AuthenticationError",
    "ContextLengthExceeded",
    "ErrorKind",
    "GatewayError",
    "InvalidRequest",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "RequestTimeout",
    "RequestTooLarge",
    "UpstreamError",
    "UpstreamTimeout",
    "anthropic_error_body",
    "credential_refused",
    "describe_exception",
    "error_headers",
    "openai_error_body",
    "responses_error_object",
]

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "quota_exceeded",
    "context_length_exceeded",
    "api_error",
    "overloaded",
    "timeout",
    "unavailable",
]


class GatewayError(Exception):
    """Base of every error a client may receive."""

    status: int = 500
    kind: ErrorKind = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.should_retry = should_retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class InvalidRequest(GatewayError):
    status, kind = 400, "invalid_request"


class AuthenticationError(GatewayError):
    status, kind = 401, "authentication"


class PermissionDenied(GatewayError):
    status, kind = 403, "permission"


class NotFound(GatewayError):
    status, kind = 404, "not_found"


class RequestTooLarge(GatewayError):
    status, kind = 413, "request_too_large"


class RequestTimeout(GatewayError):
    """The client did not send its request (body) in time."""

    status, kind = 408, "invalid_request"


class RateLimited(GatewayError):
    status, kind = 429, "rate_limit"


class QuotaExceeded(GatewayError):
    """Hard quota exhaustion: retrying will not help, so clients are told not to."""

    status, kind = 429, "quota_exceeded"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("should_retry", False)
        super().__init__(message, **kwargs)


class ContextLengthExceeded(GatewayError):
    """The prompt does not fit; Anthropic clients key on "prompt is too long" to compact."""

    status, kind = 400, "context_length_exceeded"


class UpstreamError(GatewayError):
    status, kind = 502, "api_error"


class Overloaded(GatewayError):
    status, kind = 529, "overloaded"


class UpstreamTimeout(GatewayError):
    status, kind = 504, "timeout"


class ProviderUnavailable(GatewayError):
    """The provider is not ready (signed out, refreshing failed, disabled)."""

    status, kind = 503, "unavailable"


def credential_refused(error: GatewayError, provider: str | None) -> None:
    """An upstream that refused the *gateway's* credential (an upstream 401, a signed-out
    provider) is never shown to the client as its own 401: clients such as Claude Code then
    blame their API key. It becomes a 503 naming the sign-in command, for every provider.
    Changes `error` in place (it may already sit in a stream event)."""
    if error.status != 401:
        return
    error.status, error.kind = 503, "unavailable"
    error.should_retry = False
    if "aiclient auth" not in error.message:
        fix = f"aiclient auth {provider}" if provider else "aiclient auth <provider>"
        error.message = f"{error.message}; sign the gateway in again: `{fix}`"


# --------------------------------------------------------------------------- the mapping table


@dataclass(frozen=True, slots=True)
class _Shape:
    anthropic_type: str
    openai_type: str
    openai_code: str | None
    responses_code: str


_SHAPES: dict[ErrorKind, _Shape] = {
    "invalid_request": _Shape(
        "invalid_request_error", "invalid_request_error", None, "invalid_request"
    ),
    "authentication": _Shape(
        "authentication_error", "authentication_error", "invalid_api_key", "authentication_error"
    ),
    "permission": _Shape("permission_error", "permission_error", None, "permission_denied"),
    "not_found": _Shape("not_found_error", "invalid_request_error", "model_not_found", "not_found"),
    "request_too_large": _Shape(
        "request_too_large", "invalid_request_error", "request_too_large", "request_too_large"
    ),
    "rate_limit": _Shape(
        "rate_limit_error", "rate_limit_error", "rate_limit_exceeded", "rate_limit_exceeded"
    ),
    "quota_exceeded": _Shape(
        "rate_limit_error", "insufficient_quota", "insufficient_quota", "insufficient_quota"
    ),
    "context_length_exceeded": _Shape(
        "invalid_request_error",
        "invalid_request_error",
        "context_length_exceeded",
        "context_length_exceeded",
    ),
    "api_error": _Shape("api_error", "api_error", None, "server_error"),
    "overloaded": _Shape("overloaded_error", "server_error", "overloaded", "server_is_overloaded"),
    "timeout": _Shape("api_error", "timeout", "timeout", "server_error"),
    # Not "overloaded_error": a signed-out provider is not busy, and clients show (and retry)
    # overloaded errors as the service being under load.
    "unavailable": _Shape("api_error", "server_error", "service_unavailable", "server_error"),
}


def anthropic_error_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": _SHAPES[error.kind].anthropic_type, "message": error.message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def openai_error_body(error: GatewayError) -> dict[str, Any]:
    shape = _SHAPES[error.kind]
    return {
        "error": {
            "message": error.message,
            "type": shape.openai_type,
            "param": error.param,
            "code": error.code or shape.openai_code,
        }
    }


def responses_error_object(error: GatewayError) -> dict[str, Any]:
    """The `error` member of a Responses `response.failed` event (Codex reads `code`)."""
    return {"code": error.code or _SHAPES[error.kind].responses_code, "message": error.message}


def error_headers(error: GatewayError) -> dict[str, str]:
    """Headers that go with an error response (retry hints)."""
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["retry-after"] = str(max(0, round(error.retry_after)))
        headers["retry-after-ms"] = str(max(0, round(error.retry_after * 1000)))
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    return headers


def describe_exception(exc: BaseException) -> str:
    """A one-line reason (single-exception groups unwrapped), with secrets masked."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
