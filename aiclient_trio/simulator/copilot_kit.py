"""Shared plumbing of the GitHub and Copilot simulators: state, fault switchboard, answers.

Both fake services share one `SimState` (GitHub mints Copilot tokens the Copilot API then
checks); the ASGI plumbing every simulator shares is `simulator.asgi`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from aiclient_trio.simulator.asgi import Receive, Scope, Send, read_body, scope_headers

__all__ = [
    "Faults",
    "Recorded",
    "SimState",
    "has_image",
    "send_bytes",
    "send_json",
    "send_start",
    "sse_frame",
    "watch_disconnect",
]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request a simulator received: lower-cased headers and the parsed JSON body."""

    service: str  # "github" | "copilot"
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class Faults:
    """Behaviour switched on by tests (and `aiclient demo`); each is consumed when used."""

    # Canned answers for the next CAPI calls: (status, body, content type, extra headers).
    queued_errors: list[tuple[int, bytes, str, dict[str, str]]] = field(default_factory=list)
    # Device flow: poll answers, in order; the last one repeats.
    device_polls: list[dict[str, Any]] = field(
        default_factory=lambda: [{"access_token": "gho_test", "token_type": "bearer"}]
    )
    # Lifetime of a device code, and token exchanges to fail (HTTP 502) before succeeding.
    device_expires_in: int = 900
    token_failures: int = 0
    # Token exchanges to refuse with 403 "API rate limit exceeded" (GitHub's secondary rate
    # limit: a 403 like a missing seat, told apart only by its body).
    exchange_rate_limited: int = 0
    # Seconds the services' clocks run ahead of ours (negative: behind), seen in `Date`.
    clock_offset: float = 0.0
    # GET /models calls to answer 429 (the model list is rate-limited like any call).
    models_rate_limited: int = 0
    # Seconds before the first byte of every CAPI answer.
    first_byte_delay: float = 0.0
    # Chat streams: after this many events, a `{"error": {...}}` chunk ends the stream.
    error_after_events: int | None = None
    # Hold every CAPI stream open after this many events until the client leaves.
    hold_after_events: int | None = None
    # Cut every CAPI stream after this many events (connection aborted, no clean end).
    reset_after_events: int | None = None

    def queue_upstream_rate_limit(self, retry_after: float = 1) -> None:
        """The next CAPI call gets 503 `upstream_provider_rate_limit` (a rate limit, §8)."""
        message = (
            "Sorry, the upstream model provider is currently experiencing high demand. "
            "Please try again later or consider switching models."
        )
        self.queue_error(
            503,
            {"error": {"message": message, "code": "upstream_provider_rate_limit"}},
            {"retry-after": f"{retry_after:g}"},
        )

    def queue_quota(self, code: str = "quota_exceeded", reset: str | None = None) -> None:
        """The next CAPI call gets 402 with a quota `code` and, when given, an HTTP-date
        Retry-After (`reset`, e.g. "Wed, 01 Jan 2031 00:00:00 GMT")."""
        messages = {
            "quota_exceeded": "You have exceeded your monthly AI credit quota.",
            "free_quota_exceeded": "You have reached the monthly limit of Copilot Free.",
            "overage_limit_reached": "You have reached your overage budget limit.",
            "billing_not_configured": "Billing is not configured for additional usage.",
        }
        message = next((m for k, m in messages.items() if code.startswith(k)), "Quota exceeded.")
        self.queue_error(
            402,
            {"error": {"message": message, "code": code}},
            {"retry-after": reset} if reset else None,
        )

    def queue_error(
        self,
        status: int,
        body: dict[str, Any] | str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(body, str):
            raw, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            raw, ctype = json.dumps(body).encode(), "application/json"
        self.queued_errors.append((status, raw, ctype, dict(headers or {})))


@dataclass(slots=True)
class SimState:
    """Accounts, tokens and records shared by the two simulators."""

    # GitHub OAuth tokens that work, and those answering 401 / 403 at the exchange.
    github_tokens: set[str] = field(default_factory=lambda: {"gho_test"})
    revoked: set[str] = field(default_factory=set)
    no_seat: set[str] = field(default_factory=set)
    login: str = "octo-sim"
    # Copilot tokens currently accepted by the Copilot API.
    copilot_tokens: set[str] = field(default_factory=set)
    forbidden_tokens: set[str] = field(default_factory=set)  # answered 403, not 401
    tokens_issued: int = 0
    refresh_in: int = 1500
    token_lifetime: int = 1800
    api_url: str = ""  # the Copilot simulator's base URL (endpoints.api)
    faults: Faults = field(default_factory=Faults)
    requests: list[Recorded] = field(default_factory=list)
    # Streams whose client went away before the end, and an event set at each.
    disconnects: int = 0
    disconnected: trio.Event = field(default_factory=trio.Event)
    # Streams currently being written (so tests can wait for an upstream call to be live).
    open_streams: int = 0
    stream_opened: trio.Event = field(default_factory=trio.Event)
    quota: dict[str, Any] = field(default_factory=dict)
    # CAPI answers HTTP 466 to an X-GitHub-Api-Version older than this (since 2026-02-11;
    # the exact cut-off is unknown, official clients moved to 2025-10-01 and later).
    min_api_version: str = "2025-10-01"
    # AI-credit billing (since 2026-06-01; False: an annual plan still billed per premium
    # request, answers carry no `copilot_usage`), and where chat answers put `copilot_usage`:
    # "beside" `usage` (peers' captures), "inside" it (the official type) or "none".
    token_billing: bool = True
    copilot_usage_at: str = "beside"
    # Ids of the /responses answers given, which `previous_response_id` may name (cleared:
    # the service forgot them, as it does with unstored responses after a while).
    response_ids: list[str] = field(default_factory=list)
    # The prompt cache: cache key -> prompt tokens written under it.
    prompt_cache: dict[str, int] = field(default_factory=dict)

    def issue_copilot_token(self) -> tuple[str, int]:
        self.tokens_issued += 1
        expires = int(time.time()) + self.token_lifetime
        token = f"tid=sim{self.tokens_issued};exp={expires};sku=copilot_pro;chat=1:c0ffee"
        self.copilot_tokens.add(token)
        return token, expires

    def forbid_copilot_tokens(self) -> None:
        """Every current Copilot token now gets 403 (minted before a seat or policy change);
        a freshly exchanged one works."""
        self.forbidden_tokens |= self.copilot_tokens
        self.copilot_tokens.clear()

    def expire_copilot_tokens(self) -> None:
        """Every current Copilot token now gets 401 "unauthorized: token expired"."""
        self.copilot_tokens.clear()

    def note_disconnect(self) -> None:
        self.disconnects += 1
        self.disconnected.set()
        self.disconnected = trio.Event()

    async def wait_for_disconnects(self, count: int) -> None:
        """Return once `count` streams in total have seen their client leave."""
        while self.disconnects < count:
            await self.disconnected.wait()

    def note_stream_open(self) -> None:
        self.open_streams += 1
        self.stream_opened.set()
        self.stream_opened = trio.Event()

    def recorded(self, service: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (service is None or r.service == service) and (path is None or r.path == path)
        ]


async def record_request(
    scope: Scope, receive: Receive, state: SimState, service: str
) -> tuple[Any, dict[str, str], str]:
    """Read the body (JSON or None), record the request; returns (body, headers, path)."""
    raw = await read_body(receive) or b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    headers = scope_headers(scope)
    path = scope["path"]
    state.requests.append(Recorded(service, scope["method"], path, headers, body))
    return body, headers, path


async def send_start(
    send: Send, status: int, content_type: str, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", content_type.encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    await send_start(send, status, content_type, headers)
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    await send_bytes(send, status, json.dumps(body).encode(), "application/json", headers)


@asynccontextmanager
async def watch_disconnect(receive: Receive, state: SimState) -> AsyncIterator[trio.Event]:
    gone = trio.Event()
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    state.note_disconnect()
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(watch)
        yield gone
        nursery.cancel_scope.cancel()


def sse_frame(data: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


def has_image(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("type") in ("image", "image_url", "input_image"):
            return True
        return any(has_image(v) for v in value.values() if isinstance(v, list | dict))
    if isinstance(value, list):
        return any(has_image(v) for v in value)
    return False
