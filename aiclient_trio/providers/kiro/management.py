"""Kiro's management API (`management.{region}.kiro.dev`, AWS JSON 1.0).

ListAvailableProfiles (the Identity Center profile ARN), GetUsageLimits (credits) and
ListAvailableModels (ids, limits, effort schemas). One POST per call with the operation in
`x-amz-target`; answers are JSON. Failures come back as `ManagementError` carrying the
status and body so callers can decide (try another region, keep a cache).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from aiclient_trio.config.types import KiroConfig
from aiclient_trio.providers.kiro.endpoints import (
    AuthKind,
    management_headers,
    management_url,
    moves_to_next_family,
)

__all__ = ["ORIGIN", "KiroManagement", "ManagementError"]

log = logging.getLogger(__name__)
ORIGIN = "AI_EDITOR"
_OTHER_USAGE_SERVICE = {
    "KiroControlPlaneBearerService": "AmazonCodeWhispererService",
    "AmazonCodeWhispererService": "KiroControlPlaneBearerService",
}


class ManagementError(Exception):
    def __init__(self, operation: str, status: int, body: bytes = b"") -> None:
        super().__init__(f"Kiro {operation} answered HTTP {status}" if status else operation)
        self.operation, self.status, self.body = operation, status, body


class KiroManagement:
    """Calls to the management host for one account (token and identity supplied per call)."""

    def __init__(
        self,
        config: KiroConfig,
        http: httpx.AsyncClient,
        credentials: Callable[[], Awaitable[tuple[str, AuthKind, str]]],
    ) -> None:
        # credentials() -> (access token, auth kind, machine id)
        self.config, self._http, self._credentials = config, http, credentials
        self.usage_service: str = config.usage_limits_service

    async def call(
        self, service: str, operation: str, region: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        token, kind, machine = await self._credentials()
        headers = management_headers(
            f"{service}.{operation}", token, kind=kind, machine=machine, config=self.config
        )
        url = management_url(self.config, region) + "/"
        try:
            response = await self._http.post(url, content=json.dumps(body), headers=headers)
        except httpx.HTTPError as exc:
            reason = f"cannot reach Kiro's management host: {type(exc).__name__}"
            raise ManagementError(reason, 0) from None
        if response.status_code != 200:
            raise ManagementError(operation, response.status_code, response.content)
        try:
            data = response.json()
        except ValueError:
            raise ManagementError(operation, 502, b"not JSON") from None
        if not isinstance(data, dict):
            raise ManagementError(operation, 502, b"not an object")
        return data

    async def list_profiles(self, region: str) -> list[dict[str, Any]]:
        data = await self.call("KiroControlPlaneBearerService", "ListAvailableProfiles", region, {})
        return [p for p in data.get("profiles") or [] if isinstance(p, dict) and p.get("arn")]

    async def usage_limits(self, region: str, profile_arn: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"origin": ORIGIN, "resourceType": "AGENTIC_REQUEST"}
        if profile_arn:
            body["profileArn"] = profile_arn
        try:
            return await self.call(self.usage_service, "GetUsageLimits", region, body)
        except ManagementError as exc:
            if not moves_to_next_family(exc.status, exc.body):
                raise
            # The target's service name is disputed (kiro-2026.md 3): try the other, keep it.
            other = _OTHER_USAGE_SERVICE[self.usage_service]
            data = await self.call(other, "GetUsageLimits", region, body)
            log.info("Kiro GetUsageLimits answers under %s; using that from now on", other)
            self.usage_service = other
            return data

    async def list_models(self, region: str, profile_arn: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"origin": ORIGIN}
        if profile_arn:
            body["profileArn"] = profile_arn
        return await self.call("KiroControlPlaneBearerService", "ListAvailableModels", region, body)
