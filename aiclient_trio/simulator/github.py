"""A fake GitHub for Copilot sign-in: device flow, token exchange, user and quota endpoints.

Behaves like github.com / api.github.com as far as Copilot clients see them (F1, F2, F13 of
docs/copilot.md §9), including refusals: a revoked token gets 401, a seatless one 403.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import trio

from aiclient_trio.simulator.asgi import Receive, Scope, Send, not_http, serve_app
from aiclient_trio.simulator.copilot_kit import SimState, record_request, send_json

__all__ = [
    "DEFAULT_QUOTA",
    "EXCHANGE_RATE_LIMITED",
    "GitHubSimulator",
    "next_reset_date",
    "serve_github_simulator",
]


def next_reset_date(today: date | None = None) -> str:
    """The first day of next month, as Copilot's premium quota resets (never a past date)."""
    today = today or datetime.now(UTC).date()
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, 1).isoformat()


DEFAULT_QUOTA: dict[str, Any] = {
    "copilot_plan": "individual",
    "access_type_sku": "copilot_pro",
    "chat_enabled": True,
    "quota_reset_date": next_reset_date(),
    "quota_snapshots": {
        "premium_interactions": {
            "entitlement": 300,
            "remaining": 120,
            "percent_remaining": 40,
            "unlimited": False,
            "overage_permitted": False,
            "overage_count": 0,
            "has_quota": True,
            "quota_id": "premium_interactions",
        },
        "chat": {"unlimited": True, "quota_id": "chat"},
        "completions": {"unlimited": True, "quota_id": "completions"},
    },
}


class GitHubSimulator:
    """The ASGI app; one instance per simulated account set (`SimState`)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._poll_index = 0
        if not state.quota:
            state.quota = json.loads(json.dumps(DEFAULT_QUOTA))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        body, headers, path = await record_request(scope, receive, self.state, "github")
        route = (scope["method"], path)
        if route == ("POST", "/login/device/code"):
            await self._device_code(send, body)
        elif route == ("POST", "/login/oauth/access_token"):
            await self._poll(send, body)
        elif route == ("GET", "/copilot_internal/v2/token"):
            await self._token(send, headers)
        elif route == ("GET", "/copilot_internal/user"):
            if self._github_token(headers) is None:
                await send_json(send, 401, _BAD_CREDENTIALS)
            else:
                # Since 2026-06-01: whether the account pays AI credits per token.
                answer = {**self.state.quota, "token_based_billing": self.state.token_billing}
                await send_json(send, 200, answer)
        elif route == ("GET", "/user"):
            if self._github_token(headers) is None:
                await send_json(send, 401, _BAD_CREDENTIALS)
            else:
                await send_json(send, 200, {"login": self.state.login, "id": 1})
        else:
            await send_json(send, 404, {"message": "Not Found"})

    def _github_token(self, headers: dict[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        if token in self.state.github_tokens and token not in self.state.revoked:
            return token
        return None

    async def _device_code(self, send: Send, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("client_id"):
            await send_json(send, 400, {"error": "unauthorized_client"})
            return
        self._poll_index = 0
        await send_json(
            send,
            200,
            {
                "device_code": "dc1",
                "user_code": "ABCD-1234",
                "verification_uri": "https://github.com/login/device",
                "expires_in": self.state.faults.device_expires_in,
                "interval": 5,
            },
        )

    async def _poll(self, send: Send, body: Any) -> None:
        if not isinstance(body, dict) or body.get("device_code") != "dc1":
            await send_json(send, 200, {"error": "incorrect_device_code"})
            return
        polls = self.state.faults.device_polls
        answer = polls[min(self._poll_index, len(polls) - 1)]
        self._poll_index += 1
        await send_json(send, 200, answer)

    async def _token(self, send: Send, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "token" or token not in self.state.github_tokens:
            await send_json(send, 401, _BAD_CREDENTIALS)
            return
        if token in self.state.revoked:
            await send_json(send, 401, _BAD_CREDENTIALS)
            return
        if token in self.state.no_seat:
            await send_json(send, 403, _NO_SEAT)
            return
        if self.state.faults.exchange_rate_limited > 0:
            self.state.faults.exchange_rate_limited -= 1
            await send_json(send, 403, EXCHANGE_RATE_LIMITED, {"retry-after": "60"})
            return
        if self.state.faults.token_failures > 0:
            self.state.faults.token_failures -= 1
            await send_json(send, 502, {"message": "Server Error"})
            return
        copilot_token, expires_at = self.state.issue_copilot_token()
        await send_json(
            send,
            200,
            {
                "token": copilot_token,
                "expires_at": expires_at,
                "refresh_in": self.state.refresh_in,
                "sku": "copilot_pro",
                "individual": True,
                "chat_enabled": True,
                "endpoints": {
                    "api": self.state.api_url,
                    "proxy": "https://copilot-proxy.githubusercontent.com",
                },
            },
        )


_BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
    "status": "401",
}
# GitHub's secondary rate limit on the exchange: a 403 with no `error_details`.
EXCHANGE_RATE_LIMITED = {
    "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for "
    "help, please include the request ID 0000:0000:0000000:0000000:00000000.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    "status": "403",
}
_NO_SEAT = {
    "message": "Resource not accessible by integration",
    "error_details": {
        "title": "No access to GitHub Copilot found",
        "message": "You do not have access to GitHub Copilot.",
        "url": "https://github.com/settings/copilot",
        "notification_id": "no_copilot_access",
    },
    "can_signup_for_limited": True,
}


async def serve_github_simulator(
    state: SimState, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the fake GitHub on 127.0.0.1:0; reports its base URL (web and API share it)."""
    await serve_app(
        GitHubSimulator(state),
        task_status=task_status,
        clock_offset=lambda: state.faults.clock_offset,
    )
