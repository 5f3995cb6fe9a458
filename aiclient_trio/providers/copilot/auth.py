"""GitHub sign-in for Copilot: device flow, the stored GitHub token, and the Copilot token.

The long-lived GitHub OAuth token lives in a 0600 file written atomically; the short-lived
Copilot token is exchanged from it, refreshed single-flight, and never written or logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from aiclient_trio import untrusted
from aiclient_trio.config.paths import credentials_dir, ensure_private_dir, write_private
from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.errors import AuthenticationError, GatewayError, RateLimited, UpstreamError
from aiclient_trio.providers.copilot.headers import github_headers

__all__ = [
    "CLIENT_ID",
    "CopilotToken",
    "DeviceCode",
    "DeviceFlowError",
    "ExchangeRateLimited",
    "NoCopilotAccess",
    "StoredCredential",
    "TokenManager",
    "TokenRevoked",
    "capi_fallback_url",
    "credential_path",
    "delete_credential",
    "exchange_token",
    "fetch_github_login",
    "github_urls",
    "load_credential",
    "request_device_code",
    "run_device_flow",
    "save_credential",
]

CLIENT_ID = "Iv1.b507a08c87ecfe98"
SCOPE = "read:user"
FIX_COMMAND = "aiclient auth copilot"
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TokenRevoked(AuthenticationError):
    """GitHub refused the stored OAuth token (revoked, expired or wrong)."""


class NoCopilotAccess(AuthenticationError):
    """The GitHub account has no Copilot seat (403 from the token exchange)."""

    status = 403


class ExchangeRateLimited(RateLimited):
    """GitHub rate-limited the token exchange (a 403 whose body says so, no `error_details`):
    retried with backoff; the current Copilot token keeps serving until it expires."""


class DeviceFlowError(GatewayError):
    """The device flow ended without a token (expired, denied, disabled...)."""

    status = 401
    kind = "authentication"


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True, slots=True)
class StoredCredential:
    github_token: str = field(repr=False)
    account_type: str = "individual"
    enterprise_domain: str | None = None
    login: str | None = None
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "github_token": self.github_token,
            "account_type": self.account_type,
            "enterprise_domain": self.enterprise_domain,
            "login": self.login,
            "created_at": self.created_at,
        }


def credential_path(directory: Path | None = None) -> Path:
    return (directory or credentials_dir("copilot")) / "github_token.json"


def save_credential(credential: StoredCredential, directory: Path | None = None) -> Path:
    """Write it atomically, mode 0600, in its 0700 directory (`write_private`)."""
    path = credential_path(directory)
    ensure_private_dir(path.parent)
    write_private(path, json.dumps(credential.to_json()), prefix=".github_token.")
    return path


def load_credential(directory: Path | None = None) -> StoredCredential | None:
    path = credential_path(directory)
    try:
        data = untrusted.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    token = data.get("github_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        return None
    return StoredCredential(
        github_token=token,
        account_type=str(data.get("account_type") or "individual"),
        enterprise_domain=data.get("enterprise_domain") or None,
        login=data.get("login") or None,
        created_at=float(data.get("created_at") or 0.0),
    )


def delete_credential(directory: Path | None = None) -> bool:
    try:
        credential_path(directory).unlink()
    except FileNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- URLs


def github_urls(config: CopilotConfig) -> tuple[str, str]:
    """(github web base, github API base); GHE.com data residency uses the domain."""
    web, api = config.github_url.rstrip("/"), config.github_api_url.rstrip("/")
    domain = config.enterprise_domain
    if domain and web == "https://github.com":
        web = f"https://{domain}"
    if domain and api == "https://api.github.com":
        api = f"https://api.{domain}"
    return web, api


def capi_fallback_url(config: CopilotConfig) -> str:
    """CAPI base when the token exchange names none (`endpoints.api` wins otherwise)."""
    if config.api_url:
        return config.api_url.rstrip("/")
    if config.enterprise_domain:
        return f"https://copilot-api.{config.enterprise_domain}"
    if config.account_type == "individual":
        return "https://api.githubcopilot.com"
    return f"https://api.{config.account_type}.githubcopilot.com"


# --------------------------------------------------------------------------- device flow


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: float
    interval: float


async def request_device_code(client: httpx.AsyncClient, config: CopilotConfig) -> DeviceCode:
    web, _ = github_urls(config)
    response = await client.post(
        f"{web}/login/device/code",
        json={"client_id": CLIENT_ID, "scope": SCOPE},
        headers=github_headers(config),
    )
    data = _json_or_error(response, "device code request")
    try:
        return DeviceCode(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=str(data["verification_uri"]),
            expires_in=float(data.get("expires_in", 900)),
            interval=float(data.get("interval", 5)),
        )
    except KeyError as exc:
        raise UpstreamError(f"GitHub device code response lacks {exc.args[0]!r}") from None


_FLOW_ERRORS = {
    "expired_token": "the device code expired before it was authorised; run the command again",
    "access_denied": "the authorisation was denied in the browser",
    "incorrect_device_code": "GitHub did not recognise the device code",
    "incorrect_client_credentials": "GitHub rejected the client id",
    "device_flow_disabled": "device flow is disabled for this GitHub app",
    "unsupported_grant_type": "GitHub rejected the grant type",
}


async def run_device_flow(
    client: httpx.AsyncClient,
    config: CopilotConfig,
    code: DeviceCode,
    *,
    on_progress: Callable[[str], None] = lambda _msg: None,
    sleep: Callable[[float], Awaitable[None]] = trio.sleep,
) -> str:
    """Poll until the user authorises `code`; return the GitHub OAuth token.

    Honours `interval` (and the new interval of `slow_down`, else +5 s) and stops at
    `expires_in` measured on the Trio clock.
    """
    web, _ = github_urls(config)
    interval = max(1.0, code.interval)
    deadline = trio.current_time() + code.expires_in
    while True:
        if trio.current_time() + interval > deadline:
            raise DeviceFlowError(_FLOW_ERRORS["expired_token"], code="expired_token")
        await sleep(interval)
        response = await client.post(
            f"{web}/login/oauth/access_token",
            json={
                "client_id": CLIENT_ID,
                "device_code": code.device_code,
                "grant_type": _DEVICE_GRANT,
            },
            headers=github_headers(config),
        )
        data = _json_or_error(response, "device flow poll")
        token = data.get("access_token")
        if isinstance(token, str) and token:
            return token
        error = str(data.get("error") or "")
        if error == "authorization_pending":
            on_progress("waiting for authorisation")
            continue
        if error == "slow_down":
            new = data.get("interval")
            interval = (
                float(new) if isinstance(new, int | float) and new > interval else interval + 5
            )
            on_progress(f"GitHub asked to slow down; polling every {interval:g} s")
            continue
        message = _FLOW_ERRORS.get(error) or f"device flow failed: {error or 'no token'}"
        raise DeviceFlowError(message, code=error or None)


async def fetch_github_login(
    client: httpx.AsyncClient, config: CopilotConfig, github_token: str
) -> str | None:
    _, api = github_urls(config)
    response = await client.get(f"{api}/user", headers=github_headers(config, github_token))
    if response.status_code != 200:
        return None
    login = untrusted.json_object(response.content).get("login")
    return login if isinstance(login, str) else None


# --------------------------------------------------------------------------- token exchange


@dataclass(frozen=True, slots=True)
class CopilotToken:
    token: str = field(repr=False)
    expires_at: float  # unix seconds
    refresh_in: float  # seconds after `obtained_at` (Trio clock) to refresh
    obtained_at: float  # trio.current_time() when received
    api_url: str
    sku: str | None = None

    @property
    def refresh_at(self) -> float:
        """Trio-clock time of the next refresh: `refresh_in - 60` s after it arrived."""
        return self.obtained_at + max(0.0, self.refresh_in - 60.0)


async def exchange_token(
    client: httpx.AsyncClient, config: CopilotConfig, github_token: str
) -> CopilotToken:
    """`GET /copilot_internal/v2/token`; TokenRevoked on 401, NoCopilotAccess on 403."""
    _, api = github_urls(config)
    response = await client.get(
        f"{api}/copilot_internal/v2/token", headers=github_headers(config, github_token)
    )
    if response.status_code == 401:
        raise TokenRevoked(
            f"GitHub rejected the stored token (revoked or expired); run `{FIX_COMMAND}`"
        )
    if response.status_code == 403:
        # Told apart by the body, not the status (docs/copilot.md §2): `error_details` means
        # no seat; a message starting "API rate limit exceeded" is GitHub's rate limit.
        data = untrusted.json_object(response.content)
        details = data.get("error_details")
        message = str(data.get("message") or "")
        if not isinstance(details, dict) and message.lower().startswith("api rate limit"):
            raise ExchangeRateLimited(
                "GitHub rate-limited the Copilot token exchange; retrying with backoff",
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        details = details if isinstance(details, dict) else {}
        what = str(details.get("message") or message or "no Copilot access")
        raise NoCopilotAccess(
            f"this GitHub account has no Copilot access: {what}; "
            f"enable Copilot at https://github.com/settings/copilot, then run `{FIX_COMMAND}`"
        )
    data = _json_or_error(response, "Copilot token exchange")
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise UpstreamError("the Copilot token exchange returned no token")
    endpoints = data.get("endpoints")
    endpoints = endpoints if isinstance(endpoints, dict) else {}
    api_url = config.api_url or endpoints.get("api") or capi_fallback_url(config)
    expires_at = float(data.get("expires_at") or time.time() + 1800)
    refresh_in = float(data.get("refresh_in") or max(60.0, expires_at - time.time() - 300))
    return CopilotToken(
        token=token,
        expires_at=expires_at,
        refresh_in=refresh_in,
        obtained_at=trio.current_time(),
        api_url=str(api_url).rstrip("/"),
        sku=data.get("sku") if isinstance(data.get("sku"), str) else None,
    )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _json_or_error(response: httpx.Response, what: str) -> dict[str, Any]:
    data = untrusted.json_object(response.content)
    if response.status_code >= 400:
        message = str(data.get("message") or response.reason_phrase)
        raise UpstreamError(f"GitHub {what} failed: HTTP {response.status_code} {message}")
    if not data:
        raise UpstreamError(f"GitHub {what} returned no JSON object")
    return data


# --------------------------------------------------------------------------- refresh


class TokenManager:
    """Holds the current Copilot token; `refresh()` is single-flight.

    Callers that saw a token fail pass it as `stale`: if another task already replaced it,
    they get the new one without a second exchange.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: CopilotConfig,
        github_token: str,
        *,
        on_refresh: Callable[[bool], None] | None = None,
    ) -> None:
        self._on_refresh = on_refresh
        self._client = client
        self._config = config
        self._github_token = github_token
        self._lock = trio.Lock()
        self.current: CopilotToken | None = None
        self.exchanges = 0  # number of exchanges done (for tests and status)
        self.changed = trio.Event()

    @property
    def github_token(self) -> str:
        return self._github_token

    @property
    def config(self) -> CopilotConfig:
        """The settings exchanges use (the sign-in's GitHub host and plan included)."""
        return self._config

    async def get(self) -> CopilotToken:
        if self.current is not None:
            return self.current
        return await self.refresh(None)

    async def refresh(self, stale: CopilotToken | None) -> CopilotToken:
        async with self._lock:
            if self.current is not None and self.current is not stale:
                return self.current
            try:
                token = await exchange_token(self._client, self._config, self._github_token)
            except Exception:
                if self._on_refresh is not None:
                    self._on_refresh(False)
                raise
            if self._on_refresh is not None:
                self._on_refresh(True)
            self.exchanges += 1
            self.current = token
            self.changed.set()
            self.changed = trio.Event()
            return token
