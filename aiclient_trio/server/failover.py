"""Failover for one API request: retries with backoff, circuit breakers, fallback chains.

All of it happens before the first byte reaches the client; after that, errors are final.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from aiclient_trio import ir
from aiclient_trio.config.types import UpstreamConfig
from aiclient_trio.errors import GatewayError, ProviderUnavailable
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.router import Target
from aiclient_trio.reliability import (
    CircuitBreaker,
    RetryPolicy,
    counts_as_failure,
    is_transient,
)
from aiclient_trio.server.exchange import Exchange

__all__ = ["client_will_retry", "fallback_chain"]

log = logging.getLogger("aiclient_trio.server")

# The retry-after handed to a client that retries by itself when the upstream named none.
CLIENT_RETRY_AFTER = 1.0


def client_will_retry(headers: dict[str, str]) -> bool:
    """Does the client retry failed calls itself? The official OpenAI and Anthropic SDKs
    (Python, Node: Claude Code, Codex) say so with `x-stainless-retry-count` on every call."""
    return "x-stainless-retry-count" in headers


def _may_fall_back(error: GatewayError) -> bool:
    return (
        error.status == 429
        or error.status >= 500
        or error.kind in ("quota_exceeded", "unavailable")
    )


def fallback_chain(
    gateway: Gateway,
    limits: UpstreamConfig,
    ex: Exchange,
    targets: list[Target],
    inbound: ir.WireFormat,
    client_model: str,
    headers: dict[str, str],
    attempt: Callable[[Target, RequestContext], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
    """Try each target in order, retrying transient failures, while nothing went out."""
    policy = RetryPolicy.from_config(limits)

    async def run() -> None:
        first_error: GatewayError | None = None
        try:
            for i, target in enumerate(targets):
                last = i == len(targets) - 1
                breaker = gateway.reliability.breaker(target.label, limits)
                try:
                    await _with_retries(
                        ex, target, inbound, client_model, headers, attempt, policy, breaker
                    )
                    return
                except GatewayError as error:
                    first_error = first_error or error
                    if ex.started or not _may_fall_back(error):
                        raise
                    if last:
                        # Every target is failing: the first one's reason says the most.
                        raise (error if error.kind != "unavailable" else first_error) from None
                    log.info(
                        "request %s: %s failed (%s), trying the next target",
                        ex.request_id,
                        target.label,
                        error.kind,
                    )
                    ex.fall_back(target.label)
        finally:
            # The error's traceback holds this frame: drop the reference, or the cycle keeps
            # the (possibly big) request alive until a full garbage collection.
            first_error = None

    return run


async def _with_retries(
    ex: Exchange,
    target: Target,
    inbound: ir.WireFormat,
    client_model: str,
    headers: dict[str, str],
    attempt: Callable[[Target, RequestContext], Awaitable[None]],
    policy: RetryPolicy,
    breaker: CircuitBreaker,
) -> None:
    """One target: skipped while its circuit is open; transient failures retried with
    backoff until the first byte went to the client."""
    if not breaker.allow():
        wait = breaker.retry_in()
        raise ProviderUnavailable(
            f"{target.label} is failing (circuit open after repeated upstream errors); next "
            f"try in {wait:.0f} s. Other models of {target.provider.name} are not affected.",
            retry_after=max(1.0, wait),
        )
    client_retries = client_will_retry(headers)
    retry = 0
    while True:
        ctx = RequestContext(ex.request_id, inbound, client_model, headers)
        ctx.upstream_model = target.model.id  # the provider may refine it
        ex.ctx, ex.provider = ctx, target.provider.name
        ex.expect_first_byte()  # a retry gets the first-byte budget that is left
        # Nothing of an earlier attempt went out: its held events, its stream's keep-alive
        # and error rendering, and its usage are not this attempt's (a passthrough fallback
        # after a translated target would relay them in front of its own bytes).
        ex.pending.clear()
        ex.ping = ex.stream_error = None
        ex.usage = None
        try:
            await attempt(target, ctx)
        except GatewayError as error:
            if counts_as_failure(error):
                breaker.failed()
            else:
                breaker.succeeded()  # the upstream answered; the request was the problem
            retry += 1
            if client_retries and is_transient(error):
                # The client retries this class itself (429, 5xx, resets before the first
                # byte): retrying here too would multiply the calls and the waits (ours,
                # then the whole call again). Hand it the wait at once (the upstream's, or
                # a short one when it named none).
                if error.retry_after is None:
                    error.retry_after = CLIENT_RETRY_AFTER
                raise
            delay = None if ex.started else policy.delay(retry, error)
            if delay is None:
                raise
            log.info(
                "request %s: %s failed (%s), retry %d in %.2f s",
                ex.request_id,
                target.label,
                error.kind,
                retry,
                delay,
            )
            await trio.sleep(delay)
            if not breaker.allow():  # opened meanwhile: the upstream's own error says more
                raise
            continue
        except BaseException:
            # Cancelled: an upstream timeout is the upstream's fault, a disconnect is not.
            if ex.deadline_passed():
                breaker.failed()
            else:
                breaker.abandoned()
            raise
        if ex.outcome == "upstream_error":  # failed mid-stream, after the first byte
            breaker.failed()
        else:
            breaker.succeeded()
        return
