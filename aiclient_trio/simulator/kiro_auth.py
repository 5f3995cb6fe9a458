"""Sign-in side of the Kiro simulator: issued tokens, refresh, OIDC device flow, social PKCE.

Pure state plus handlers returning (status, JSON body, headers); the HTTP plumbing lives in
`simulator.kiro`. Time comes from `trio.current_time()` so tests can use a MockClock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import trio

__all__ = [
    "BUILDER_ID_ARN",
    "BUILDER_ID_START_URL",
    "IDC_PROFILE",
    "PROFILE_ARN",
    "DeviceGrant",
    "KiroAccounts",
    "Outcome",
    "profile_arn",
]

PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:123456789012:profile/SIMULATED"
# Identity Center accounts find their profile through ListAvailableProfiles.
IDC_PROFILE = "IDCSIMULATED"
# Kiro's fixed profile that Builder ID users send to runtime (kiro-2026.md section 4).
BUILDER_ID_ARN = "arn:aws:codewhisperer:us-east-1:638616132270:profile/AAAACCCCXXXX"
BUILDER_ID_START_URL = "https://view.awsapps.com/start"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

Outcome = tuple[int, Any, dict[str, str]]


def profile_arn(kind: str, region: str) -> str | None:
    """The profile an account of this kind owns in `region` (Builder ID and keys: none)."""
    if kind == "social":
        return PROFILE_ARN.replace("us-east-1", region)
    if kind == "idc":
        return f"arn:aws:codewhisperer:{region}:123456789012:profile/{IDC_PROFILE}"
    return None


def _invalid_grant() -> Outcome:
    return (
        400,
        {"error": "invalid_grant", "error_description": "Invalid refresh token provided"},
        {},
    )


def _oauth_error(error: str, description: str = "") -> Outcome:
    return 400, {"error": error, "error_description": description or error}, {}


@dataclass(slots=True)
class DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    start_url: str
    interval: int
    approved: bool = False
    denied: bool = False
    slow_downs_left: int = 0
    polls: int = 0


@dataclass(slots=True)
class KiroAccounts:
    """Which tokens the simulated service accepts, and the sign-in endpoints' state."""

    # token -> "social" | "idc" | "builder_id" | "api_key"
    access_tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    # token (access, refresh or API key) -> the region its account lives in
    regions: dict[str, str] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # clientId -> clientSecret
    devices: dict[str, DeviceGrant] = field(default_factory=dict)
    pkce_codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (chal, uri)
    expires_in: int = 3600
    device_expires_in: int = 600
    device_interval: int = 5
    # How many times the next device grant answers slow_down before going on.
    device_slow_downs: int = 0
    # Auto-approve a device grant after this many polls (None: wait for approve_device).
    device_auto_approve_after: int | None = None
    # Statuses the next refresh calls answer with (e.g. [500, 500]) before behaving normally.
    refresh_failures: list[int] = field(default_factory=list)
    refresh_calls: int = 0
    _serial: int = 0

    # -- tokens -----------------------------------------------------------------------------

    def issue(self, kind: str = "social", region: str = "us-east-1") -> dict[str, Any]:
        """Mint a fresh access/refresh pair the service accepts."""
        self._serial += 1
        access, refresh = f"at-{self._serial}", f"rt-{self._serial}"
        self.access_tokens[access] = kind
        self.refresh_tokens[refresh] = kind
        self.regions[access] = self.regions[refresh] = region
        answer: dict[str, Any] = {
            "accessToken": access,
            "refreshToken": refresh,
            "expiresIn": self.expires_in,
        }
        if kind == "social":
            answer["profileArn"] = profile_arn(kind, region)
        return answer

    def issue_api_key(self, region: str = "us-east-1") -> str:
        """A `ksk_...` key as app.kiro.dev creates it: bound to a region, never refreshed."""
        key = f"ksk_{secrets.token_hex(16)}"
        self.access_tokens[key] = "api_key"
        self.regions[key] = region
        return key

    def token_kind(self, access_token: str) -> str | None:
        return self.access_tokens.get(access_token)

    def token_region(self, token: str) -> str:
        return self.regions.get(token, "us-east-1")

    def revoke_access(self, token: str) -> None:
        self.access_tokens.pop(token, None)

    def revoke_refresh(self, token: str) -> None:
        self.refresh_tokens.pop(token, None)

    def refresh_social(self, body: Any) -> Outcome:
        self.refresh_calls += 1
        if self.refresh_failures:
            return self.refresh_failures.pop(0), {"message": "Internal error"}, {}
        token = body.get("refreshToken") if isinstance(body, dict) else None
        if self.refresh_tokens.get(str(token)) != "social":
            return _invalid_grant()
        return 200, self._rotate(str(token), "social"), {}

    def _rotate(self, old_refresh: str, kind: str) -> dict[str, Any]:
        region = self.token_region(old_refresh)
        self.refresh_tokens.pop(old_refresh, None)
        return self.issue(kind, region)

    def oidc_token(self, body: Any) -> Outcome:
        if not isinstance(body, dict):
            return _oauth_error("invalid_request")
        if self.clients.get(str(body.get("clientId"))) != body.get("clientSecret"):
            return _oauth_error("invalid_client", "Invalid client")
        grant = body.get("grantType")
        if grant == "refresh_token":
            self.refresh_calls += 1
            if self.refresh_failures:
                return self.refresh_failures.pop(0), {"message": "Internal error"}, {}
            token = str(body.get("refreshToken"))
            kind = self.refresh_tokens.get(token)
            if kind not in ("idc", "builder_id"):
                return _invalid_grant()
            issued = self.issue(kind, self.token_region(token))
            # The OIDC service keeps the refresh token: no refreshToken in the answer.
            self.refresh_tokens.pop(issued["refreshToken"])
            return (
                200,
                {
                    "accessToken": issued["accessToken"],
                    "tokenType": "Bearer",
                    "expiresIn": issued["expiresIn"],
                },
                {},
            )
        if grant == DEVICE_GRANT:
            return self._poll_device(str(body.get("deviceCode")), str(body.get("clientId")))
        if grant == "authorization_code":
            return self.pkce_token(body)
        return _oauth_error("unsupported_grant_type")

    # -- device flow --------------------------------------------------------------------------

    def register_client(self, body: Any) -> Outcome:
        client_id = f"client-{secrets.token_hex(4)}"
        secret = f"secret-{secrets.token_hex(8)}"
        self.clients[client_id] = secret
        expires = int(trio.current_time()) + 90 * 86400
        return (
            200,
            {
                "clientId": client_id,
                "clientSecret": secret,
                "clientIdIssuedAt": int(trio.current_time()),
                "clientSecretExpiresAt": expires,
            },
            {},
        )

    def device_authorization(self, body: Any, base_url: str) -> Outcome:
        if not isinstance(body, dict) or self.clients.get(str(body.get("clientId"))) != body.get(
            "clientSecret"
        ):
            return _oauth_error("invalid_client", "Invalid client")
        device_code = secrets.token_urlsafe(16)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        self.devices[device_code] = DeviceGrant(
            device_code=device_code,
            user_code=user_code,
            client_id=str(body["clientId"]),
            expires_at=trio.current_time() + self.device_expires_in,
            interval=self.device_interval,
            slow_downs_left=self.device_slow_downs,
            start_url=str(body.get("startUrl") or ""),
        )
        return (
            200,
            {
                "deviceCode": device_code,
                "userCode": user_code,
                "verificationUri": f"{base_url}/device",
                "verificationUriComplete": f"{base_url}/device?user_code={user_code}",
                "expiresIn": self.device_expires_in,
                "interval": self.device_interval,
            },
            {},
        )

    def approve_device(self, user_code: str, *, deny: bool = False) -> None:
        for grant in self.devices.values():
            if grant.user_code == user_code:
                grant.approved, grant.denied = not deny, deny
                return
        raise KeyError(user_code)

    def _poll_device(self, device_code: str, client_id: str) -> Outcome:
        grant = self.devices.get(device_code)
        if grant is None or grant.client_id != client_id:
            return _oauth_error("invalid_grant", "Unknown device code")
        grant.polls += 1
        if trio.current_time() >= grant.expires_at:
            return _oauth_error("expired_token", "Device code expired")
        if grant.denied:
            return _oauth_error("access_denied", "The user denied the request")
        if grant.slow_downs_left > 0:
            grant.slow_downs_left -= 1
            return _oauth_error("slow_down", "Client is polling too quickly")
        auto = self.device_auto_approve_after
        if auto is not None and grant.polls > auto:
            grant.approved = True
        if not grant.approved:
            return _oauth_error("authorization_pending", "Waiting for the user")
        del self.devices[device_code]
        issued = self.issue("builder_id" if grant.start_url == BUILDER_ID_START_URL else "idc")
        return (
            200,
            {
                "accessToken": issued["accessToken"],
                "refreshToken": issued["refreshToken"],
                "tokenType": "Bearer",
                "expiresIn": issued["expiresIn"],
            },
            {},
        )

    # -- social sign-in (PKCE with a loopback redirect) ---------------------------------------

    def login_redirect(self, query: dict[str, str]) -> Outcome:
        redirect = query.get("redirect_uri", "")
        challenge = query.get("code_challenge", "")
        if not redirect.startswith("http://127.0.0.1:") and not redirect.startswith(
            "http://localhost:"
        ):
            return 400, {"message": "redirect_uri must be a loopback address"}, {}
        if query.get("code_challenge_method") != "S256" or not challenge:
            return 400, {"message": "PKCE S256 challenge required"}, {}
        code = secrets.token_urlsafe(12)
        self.pkce_codes[code] = (challenge, redirect)
        params = urlencode({"code": code, "state": query.get("state", "")})
        separator = "&" if "?" in redirect else "?"
        return 302, {}, {"location": f"{redirect}{separator}{params}"}

    def pkce_token(self, body: Any) -> Outcome:
        if not isinstance(body, dict):
            return _oauth_error("invalid_request")
        entry = self.pkce_codes.pop(str(body.get("code")), None)
        if entry is None:
            return _oauth_error("invalid_grant", "Unknown or used code")
        challenge, redirect = entry
        verifier = str(body.get("code_verifier") or body.get("codeVerifier") or "")
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if expected != challenge:
            return _oauth_error("invalid_grant", "PKCE verification failed")
        if body.get("redirect_uri", redirect) != redirect:
            return _oauth_error("invalid_grant", "redirect_uri mismatch")
        return 200, self.issue("social"), {}
