"""Keeping the Kiro access token fresh: refresh calls, single-flight, the refresh loop.

Social accounts refresh at the Kiro auth service, Builder ID / Identity Center accounts at
AWS OIDC (JSON body, camelCase; the answer may omit refreshToken). `invalid_grant` re-reads
the import source once (the IDE may have rotated the token), then gives up with the command
that fixes it. All refreshes of one account go through one lock (single-flight).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import trio

from aiclient_trio.config.types import KiroConfig
from aiclient_trio.errors import AuthenticationError, GatewayError, UpstreamError
from aiclient_trio.providers.kiro.client import FIX_COMMAND, oidc_base, social_base
from aiclient_trio.providers.kiro.credentials import (
    TokenStore,
    format_expires_at,
    parse_expires_at,
    reread_source,
)

__all__ = ["REFRESH_MARGIN", "KiroAuth", "SignedOut"]

log = logging.getLogger(__name__)
# Refresh when less than this many seconds remain.
REFRESH_MARGIN = 600.0
MAX_BACKOFF = 300.0


class SignedOut(AuthenticationError):
    """No usable credential: the user must sign in again."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; run `{FIX_COMMAND}` to sign in")
        self.fix = FIX_COMMAND


class _InvalidGrant(Exception):
    pass


class KiroAuth:
    def __init__(
        self,
        config: KiroConfig,
        http: httpx.AsyncClient,
        store: TokenStore,
        *,
        on_refresh: Callable[[bool], None] | None = None,
        on_refreshing: Callable[[], None] | None = None,
    ) -> None:
        self.config, self._http, self.store = config, http, store
        self.record: dict[str, Any] | None = None
        self.dead_reason: str | None = None
        self._lock = trio.Lock()
        self._on_refresh = on_refresh or (lambda ok: None)
        self._on_refreshing = on_refreshing or (lambda: None)
        self._loaded_mtime: float | None = None
        self.refresh_count = 0

    # -- state ----------------------------------------------------------------------------------

    def load(self) -> bool:
        """(Re)read the token file; True when it holds a credential."""
        self.record = self.store.load()
        self._loaded_mtime = self.store.mtime()
        if (self.record and self.record.get("refreshToken")) or self._is_api_key():
            self.dead_reason = None
            return True
        self.record = None
        return False

    def file_changed(self) -> bool:
        return self.store.mtime() != self._loaded_mtime

    def _is_api_key(self) -> bool:
        return bool(self.record and self.record.get("authMethod") == "api_key")

    @property
    def profile_arn(self) -> str | None:
        value = (self.record or {}).get("profileArn")
        return str(value) if value else None

    @property
    def auth_method(self) -> str | None:
        value = (self.record or {}).get("authMethod")
        return str(value) if value else None

    @property
    def expires_at(self) -> float | None:
        return parse_expires_at((self.record or {}).get("expiresAt"))

    def needs_refresh(self, margin: float = REFRESH_MARGIN) -> bool:
        if self._is_api_key():
            return False
        expires = self.expires_at
        return expires is None or expires - time.time() < margin or not self._access()

    def _access(self) -> str:
        return str((self.record or {}).get("accessToken") or "")

    # -- tokens -------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A usable access token, refreshing first when it expires within a minute."""
        if self.record is None and not self.load():
            raise SignedOut("Kiro is not signed in")
        if self.dead_reason:
            raise SignedOut(self.dead_reason)
        if self.needs_refresh(margin=60.0):
            await self.refresh(stale=self._access())
        return self._access()

    async def refresh(self, *, stale: str | None = None) -> None:
        """Refresh once, unless another task already replaced the `stale` token."""
        async with self._lock:
            if stale is not None and self._access() and self._access() != stale:
                return  # someone else refreshed while we waited
            if self.record is None:
                raise SignedOut("Kiro is not signed in")
            self._on_refreshing()
            try:
                await self._refresh_or_reimport()
            except GatewayError:
                self._on_refresh(False)
                raise
            self._on_refresh(True)

    async def _refresh_or_reimport(self) -> None:
        assert self.record is not None
        try:
            updates = await self._call_refresh(self.record)
        except _InvalidGrant:
            fresh = await trio.to_thread.run_sync(reread_source, self.record)
            if fresh is None or fresh.get("refreshToken") == self.record.get("refreshToken"):
                self._die("the Kiro refresh token was rejected (invalid_grant)")
            assert fresh is not None
            log.info("Kiro refresh token rejected; re-imported from %s", fresh["source"]["kind"])
            expires = parse_expires_at(fresh.get("expiresAt"))
            if fresh.get("accessToken") and expires and expires - time.time() > REFRESH_MARGIN:
                updates = fresh
            else:
                try:
                    updates = {**fresh, **await self._call_refresh(fresh)}
                except _InvalidGrant:
                    self._die("the Kiro refresh token was rejected even after re-import")
        self.record = await trio.to_thread.run_sync(self.store.save, updates)
        self._loaded_mtime = self.store.mtime()
        self.refresh_count += 1

    def _die(self, reason: str) -> None:
        self.dead_reason = reason
        raise SignedOut(reason)

    async def _call_refresh(self, record: dict[str, Any]) -> dict[str, Any]:
        method = str(record.get("authMethod") or "social").lower()
        refresh_token = str(record.get("refreshToken") or "")
        if method == "api_key":
            return {}
        try:
            if method == "social":
                url = social_base(self.config, record.get("region")) + "/refreshToken"
                response = await self._http.post(
                    url,
                    json={"refreshToken": refresh_token},
                    headers={"user-agent": f"KiroIDE-{self.config.kiro_version}"},
                )
            elif method == "external_idp" and record.get("tokenEndpoint"):
                form = {
                    "grant_type": "refresh_token",
                    "client_id": str(record.get("clientId") or ""),
                    "refresh_token": refresh_token,
                }
                response = await self._http.post(str(record["tokenEndpoint"]), data=form)
            else:
                url = oidc_base(self.config, record.get("region")) + "/token"
                response = await self._http.post(
                    url,
                    json={
                        "clientId": record.get("clientId"),
                        "clientSecret": record.get("clientSecret"),
                        "grantType": "refresh_token",
                        "refreshToken": refresh_token,
                    },
                )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Kiro token refresh failed: {type(exc).__name__}") from None
        if response.status_code == 400 and "invalid_grant" in response.text:
            raise _InvalidGrant()
        if response.status_code != 200:
            raise UpstreamError(f"Kiro token refresh failed: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise UpstreamError("Kiro token refresh answered something that is not JSON") from None
        access = data.get("accessToken") or data.get("access_token")
        if not access:
            raise UpstreamError("Kiro token refresh answered without an access token")
        expires_in = float(data.get("expiresIn") or data.get("expires_in") or 3600)
        updates: dict[str, Any] = {
            "accessToken": access,
            "expiresAt": format_expires_at(time.time() + expires_in),
            # OIDC may omit the refresh token: then the old one stays valid.
            "refreshToken": data.get("refreshToken") or data.get("refresh_token"),
            "profileArn": data.get("profileArn"),
        }
        return {k: v for k, v in updates.items() if v is not None}

    # -- background ---------------------------------------------------------------------------

    async def run_refresh_loop(self, on_state: Callable[[str | None], None]) -> None:
        """Refresh ahead of expiry forever; `on_state(None)` = fine, else the reason it is not.

        Backoff with jitter on transient failures; after invalid_grant, wait for the token
        file to change (a new `aiclient auth kiro`).
        """
        backoff = 1.0
        while True:
            if self.record is None or self.dead_reason:
                on_state(self.dead_reason or "Kiro is not signed in")
                await trio.sleep(10.0)  # then look whether a new sign-in wrote the file
                if self.file_changed() and self.load():
                    on_state(None)
                continue
            if self._is_api_key():
                await trio.sleep_forever()
            expires = self.expires_at or 0.0
            delay = expires - REFRESH_MARGIN - time.time()
            if delay > 0:
                await trio.sleep(min(delay, 300.0))
                if self.file_changed():
                    self.load()
                continue
            try:
                await self.refresh(stale=self._access())
            except SignedOut:
                continue
            except GatewayError as exc:
                log.warning("Kiro token refresh failed (%s); retrying in %.0f s", exc, backoff)
                await trio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 1.0
            on_state(None)
