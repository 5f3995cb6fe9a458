"""Failure classes of the upstream services and what the user does about each.

From what a provider reports (its state and reason) and its last failed upstream exchange, name
the failure class and the fix. Pure functions: the doctor's knowledge in one table.

`diagnose(provider, state, failure, config, profile_region)` returns a `Diagnosis` (which
check it belongs to, what is wrong, the fix) or None when nothing is recognised. `failure`
is a redacted entry of `providers.failures.last_failures()`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiclient_trio.cli.version_check import upgrade_command
from aiclient_trio.config.types import Config

__all__ = ["Diagnosis", "diagnose", "kiro_region_problem"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: str  # "api_version", "revoked", "no_seat", "rate_limited", "refresh_expired", ...
    check: str  # the provider check it belongs to: "sign-in", "models", "endpoint"
    detail: str
    fix: str


def _upgrade() -> str:

    return upgrade_command()


def _reset_time(headers: list[list[str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "x-ratelimit-reset" and value.strip().isdigit():
            at = datetime.fromtimestamp(int(value), UTC)
            return at.strftime("%H:%M UTC")
        if name.lower() == "retry-after" and value.strip().isdigit():
            return f"{int(value)} s from the failure"
    return None


def _header(headers: list[list[str]], wanted: str) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def _message(failure: Mapping[str, Any]) -> str:
    text = str(failure.get("first_bytes") or "")
    found = re.search(r'"message"\s*:\s*"([^"]{1,200})', text)
    return (found.group(1) if found else text[:200]).strip().replace("\\n", " ").strip()


def _version_refused(config: Config, what: str) -> Diagnosis:
    settings = config.copilot
    return Diagnosis(
        "api_version",
        "models",
        f"Copilot refused the client version aiclient presents (X-GitHub-Api-Version "
        f"{settings.api_version}, {settings.editor_version}): {what}",
        f"upgrade aiclient ({_upgrade()}) and aiclient restart; or set a newer version: "
        "aiclient config set providers.copilot.api_version <YYYY-MM-DD>",
    )


def _copilot(
    state: Mapping[str, Any], failure: Mapping[str, Any] | None, config: Config
) -> Diagnosis | None:
    reason = str(state.get("reason") or "")
    if failure is not None:
        status, path = int(failure.get("status") or 0), str(failure.get("path") or "")
        headers: list[list[str]] = list(failure.get("headers") or [])
        message = _message(failure)
        if status == 466:
            return _version_refused(config, f'HTTP 466 on {path}: "{message}"')
        if path.endswith("/copilot_internal/v2/token"):
            limited = (
                status == 429
                or "rate limit" in message.lower()
                or _header(headers, "x-ratelimit-remaining") == "0"
            )
            if limited:
                when = _reset_time(headers)
                return Diagnosis(
                    "rate_limited",
                    "sign-in",
                    f"GitHub rate-limited the Copilot token exchange (HTTP {status}: {message})",
                    "nothing to change: wait"
                    + (f" until {when}" if when else " a few minutes")
                    + ", then aiclient restart; other tools using the same GitHub token "
                    "share the limit",
                )
            if status == 401:
                return Diagnosis(
                    "revoked",
                    "sign-in",
                    "GitHub rejected the stored token (HTTP 401: revoked, expired or the "
                    "GitHub app's access was removed)",
                    "aiclient auth copilot",
                )
            if status == 403:
                return Diagnosis(
                    "no_seat",
                    "sign-in",
                    f"this GitHub account has no Copilot seat (HTTP 403: {message})",
                    "enable Copilot at https://github.com/settings/copilot (or ask your "
                    "organisation's admin for a seat), then aiclient auth copilot",
                )
    if state.get("state") == "outdated":
        return _version_refused(config, reason)
    lowered = reason.lower()
    if "rate limit" in lowered:
        return Diagnosis("rate_limited", "sign-in", reason, "wait a few minutes, then retry")
    if "revoked" in lowered or "rejected the stored token" in lowered:
        return Diagnosis("revoked", "sign-in", reason, "aiclient auth copilot")
    if "no copilot access" in lowered or "seat" in lowered:
        return Diagnosis(
            "no_seat",
            "sign-in",
            reason,
            "enable Copilot at https://github.com/settings/copilot (or ask your organisation's "
            "admin for a seat), then aiclient auth copilot",
        )
    return None


def kiro_region_problem(config: Config, profile_region: str | None) -> Diagnosis | None:
    """A configured inference region that is not the profile's: the service says "Invalid
    token" there."""
    wanted = config.kiro.api_region
    if wanted and profile_region and wanted != profile_region:
        return Diagnosis(
            "wrong_region",
            "endpoint",
            f"providers.kiro.api_region is {wanted} but your Kiro profile lives in "
            f'{profile_region}: calls there are refused as "Invalid token"',
            f"aiclient config set providers.kiro.api_region {profile_region} (or remove the "
            "key: the region is taken from the profile)",
        )
    return None


def _kiro(
    state: Mapping[str, Any],
    failure: Mapping[str, Any] | None,
    config: Config,
    profile_region: str | None,
) -> Diagnosis | None:
    reason = str(state.get("reason") or "")
    sign_in_again = (
        "aiclient auth kiro (if aiclient imports the Kiro IDE's sign-in, sign in to the IDE "
        "again first)"
    )
    if failure is not None:
        status, path = int(failure.get("status") or 0), str(failure.get("path") or "")
        body = str(failure.get("first_bytes") or "")
        message = _message(failure)
        host = str(failure.get("url") or "").split("/")[2:3]
        where = host[0] if host else "the Kiro API"
        refresh = path.endswith("/refreshToken") or path.endswith("/token")
        if refresh and status == 400 and "invalid_grant" in body:
            return Diagnosis(
                "refresh_expired",
                "sign-in",
                "the Kiro refresh token expired or was revoked (HTTP 400 invalid_grant)",
                sign_in_again,
            )
        if status == 429 and refresh:
            return Diagnosis(
                "rate_limited",
                "sign-in",
                f"Kiro rate-limited the token refresh (HTTP 429: {message})",
                "nothing to change: wait a few minutes, then aiclient restart",
            )
        if status == 403 and ("invalid token" in body.lower() or "not authorized" in body.lower()):
            region = kiro_region_problem(config, profile_region)
            if region is not None:
                return region
            return Diagnosis(
                "wrong_region",
                "endpoint",
                f"{where} refused the token (HTTP 403: {message}); the region of the API "
                f"host must be your profile's ({profile_region or 'unknown'})",
                "remove providers.kiro.api_region / api_url overrides so the region comes "
                f"from the profile, or set providers.kiro.api_region {profile_region or ''}",
            )
        retired = status in (404, 405, 410) or re.search(
            r"unknown ?operation|endpoint not found|no longer (available|supported)", body, re.I
        )
        if retired and not refresh:
            return Diagnosis(
                "retired_host",
                "endpoint",
                f"{where} no longer serves Kiro's API (HTTP {status} on {path}: {message})",
                f"upgrade aiclient ({_upgrade()}): Kiro moves its API hosts; remove any "
                "providers.kiro.api_url override",
            )
    lowered = reason.lower()
    if "invalid_grant" in lowered or "refresh token was rejected" in lowered:
        return Diagnosis("refresh_expired", "sign-in", reason, sign_in_again)
    return kiro_region_problem(config, profile_region)


def diagnose(
    provider: str,
    state: Mapping[str, Any],
    failure: Mapping[str, Any] | None,
    config: Config,
    profile_region: str | None = None,
) -> Diagnosis | None:
    if provider == "copilot":
        return _copilot(state, failure, config)
    if provider == "kiro":
        return _kiro(state, failure, config, profile_region)
    return None
