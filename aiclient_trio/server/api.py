"""Lean ASGI handlers of the hot API routes: guards, parse, route, relay, record.

No Quart here: the body is read from `receive` and each stream event is sent as it comes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from aiclient_trio import ir
from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    Overloaded,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    UpstreamTimeout,
)
from aiclient_trio.formats.table import codec
from aiclient_trio.formats.tokens import estimate_request_tokens
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.router import Target, for_kind, resolve
from aiclient_trio.reliability import (
    RateLimiter,
)
from aiclient_trio.server import guards
from aiclient_trio.server.exchange import Exchange
from aiclient_trio.server.failover import fallback_chain
from aiclient_trio.server.http import Receive, Scope, Send, header
from aiclient_trio.server.paths import ApiRoute
from aiclient_trio.server.relay import (
    relay_passthrough,
    relay_response,
    relay_stream,
)

__all__ = ["PING_INTERVAL", "handle_api", "response_format"]

log = logging.getLogger("aiclient_trio.server")

PING_INTERVAL = 15.0
_PRIVATE_HEADERS = frozenset({b"authorization", b"x-api-key", b"cookie", b"proxy-authorization"})
_ENDPOINTS: dict[ApiRoute, str] = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "count_tokens": "/v1/messages/count_tokens",
    "responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
}


def response_format(
    inbound: ir.WireFormat, headers: dict[str, str], config: Config
) -> tuple[ir.WireFormat, bool]:
    """(response format, forced?): `x-output-format` header > `config.output_format`."""
    wanted = headers.get("x-output-format", "").strip().lower() or config.output_format
    if wanted in ("", "native"):
        return inbound, False
    if wanted == "anthropic":
        return "anthropic", True
    if wanted == "openai":
        return (inbound if inbound != "anthropic" else "openai_chat"), True
    raise InvalidRequest(
        f"x-output-format must be 'openai' or 'anthropic', not {wanted!r}", param="x-output-format"
    )


async def handle_api(
    gateway: Gateway,
    route: ApiRoute,
    fmt: ir.WireFormat,
    scope: Scope,
    receive: Receive,
    send: Send,
    request_id: str,
    *,
    ping_interval: float = PING_INTERVAL,
) -> None:
    """Serve one POST to a hot route and record it."""
    config = gateway.config.value
    ex = Exchange(send, request_id, _ENDPOINTS[route], scope["method"], fmt)
    ex.anthropic_route = fmt == "anthropic"
    ex.coalesce = config.server.stream_coalesce_ms / 1000
    gateway.active_requests.value += 1
    try:
        if gateway.start_observers:
            gateway.announce_start(request_id, ex.endpoint)
        await _serve(gateway, config, route, fmt, ex, scope, receive, ping_interval)
    finally:
        gateway.active_requests.value -= 1
        try:
            gateway.record(ex.record())
        except Exception:  # a broken observer (ledger, metrics) never fails the request
            log.exception("request %s: recording it failed", request_id)


async def _serve(
    gateway: Gateway,
    config: Config,
    route: ApiRoute,
    inbound: ir.WireFormat,
    ex: Exchange,
    scope: Scope,
    receive: Receive,
    ping_interval: float,
) -> None:
    try:
        ex.cors = guards.run_guards(scope, config, api=True)
        raw = await guards.read_body(
            scope, receive, config.server.max_body_bytes, config.server.body_timeout
        )
        body = await guards.parse_json_body_off_loop(raw, config.server.max_json_depth)
        # The gateway's own credentials stay here: providers never see them.
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k not in _PRIVATE_HEADERS
        }
        model_name = body.get("model")
        ex.client_model = model_name if isinstance(model_name, str) else None
        if route == "count_tokens":
            await _count_tokens(ex, body, len(raw))
            return
        if route == "embeddings":
            work = _embeddings_work(gateway, config, ex, body, headers)
        else:
            request = await guards.off_loop_if_big(len(raw), lambda: _parse(inbound, body))
            work = _chat_work(gateway, config, inbound, ex, body, request, headers)
    except guards.ClientDisconnected:
        ex.disconnect()
        ex.outcome = "cancelled"
        return
    except GatewayError as error:
        if isinstance(error, RequestTooLarge | RequestTimeout):
            # The rest of the body is unread: the connection cannot carry another request,
            # and saying so keeps clients from reusing it (and failing their next request).
            ex.cors = [*ex.cors, (b"connection", b"close")]
        await ex.fail(error, upstream=False)
        return
    limiter = gateway.reliability.limiter(_client_key(scope), config.server)
    if limiter is not None and not await _wait_turn(gateway, limiter, ex, receive):
        return
    await _supervised(gateway, config.upstream, ex, receive, work, ping_interval)


def _client_key(scope: Scope) -> str:
    """Whose rate-limit bucket: the peer address and User-Agent (Claude Code and Codex on
    one machine get one bucket each)."""
    client = scope.get("client")
    host = str(client[0]) if client else "?"
    return f"{host} {header(scope, b'user-agent') or ''}"


async def _wait_turn(
    gateway: Gateway, limiter: RateLimiter, ex: Exchange, receive: Receive
) -> bool:
    """Take a rate-limit token, waiting in the FIFO queue; False when refused (429 sent),
    when the client left while waiting, or when the drain expired meanwhile (529 sent)."""
    queued_at = trio.current_time()
    refused: RateLimited | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_client, receive, ex, nursery.cancel_scope, math.inf)
        ex.work_scope = nursery.cancel_scope  # the drain's expiry ends the wait too
        gateway.add_work(ex)
        try:
            await limiter.acquire()
        except RateLimited as error:
            refused = error
        finally:
            gateway.discard_work(ex)
            ex.work_scope = None
        nursery.cancel_scope.cancel()
    if ex.disconnected:
        ex.outcome = "cancelled"
        return False
    if ex.drained:
        await ex.fail(Overloaded("server shutting down"), upstream=False)
        return False
    if refused is not None:
        await ex.fail(refused, upstream=False)
        return False
    ex.queued = trio.current_time() - queued_at
    return True


async def _count_tokens(ex: Exchange, body: dict[str, Any], size: int) -> None:
    def count() -> int:
        return estimate_request_tokens(codec("anthropic").parse_request(body))

    estimate = await guards.off_loop_if_big(size, count)
    ex.usage = ir.Usage(input_tokens=estimate, input_estimated=True)
    await ex.send_json(200, {"input_tokens": estimate})


_dropped_log = logging.getLogger("aiclient.translate")
_dropped_seen: set[tuple[str, str]] = set()


def _note_dropped(request: ir.Request, target: str) -> None:
    """Log what a translation leaves out because the upstream cannot express it (a warning the
    first time per target and kind, then debug: Codex sends the same hosted tools every turn)."""
    dropped = request.dropped
    parts = [
        f"{label}: {', '.join(names)}"
        for names, label in (
            (dropped.tools, "tools"),
            (dropped.items, "input items"),
            (dropped.server_tools, "server tools"),
        )
        if names
    ]
    if not parts:
        return
    summary = "; ".join(parts)
    seen = (target, summary) in _dropped_seen
    if len(_dropped_seen) > 1000:
        _dropped_seen.clear()
    _dropped_seen.add((target, summary))
    _dropped_log.log(
        logging.DEBUG if seen else logging.WARNING,
        "%s cannot express these, dropped from the request: %s",
        target,
        summary,
    )


def _previous_response_id(inbound: ir.WireFormat, body: dict[str, Any]) -> Any:
    # A Responses conversation kept upstream (`previous_response_id`) can only be relayed to
    # an upstream that speaks Responses itself; translation has no history to send.
    return body.get("previous_response_id") if inbound == "responses" else None


def _parse(inbound: ir.WireFormat, body: dict[str, Any]) -> ir.Request:
    """The request as IR (a clean 4xx on bad input); CPU work, so big bodies come here in a
    worker thread."""
    if _previous_response_id(inbound, body):
        body = {k: v for k, v in body.items() if k != "previous_response_id"}
    request = codec(inbound).parse_request(body)
    return request


def _chat_work(
    gateway: Gateway,
    config: Config,
    inbound: ir.WireFormat,
    ex: Exchange,
    body: dict[str, Any],
    request: ir.Request,
    headers: dict[str, str],
) -> Callable[[], Awaitable[None]]:
    """Route now (clean 4xx), return the upstream work to run supervised."""
    previous = _previous_response_id(inbound, body)
    response_fmt, forced = response_format(inbound, headers, config)
    ex.fmt = response_fmt
    ex.stream = request.stream
    client_model = request.model
    ex.client_model = client_model
    targets = for_kind(
        resolve(client_model, headers, config, gateway.providers), "chat", client_model
    )

    async def attempt(target: Target, ctx: RequestContext) -> None:
        provider, model = target.provider, target.model
        if not forced and provider.passthrough(model, inbound):
            native = {**body, "model": model.id}
            await relay_passthrough(ex, provider, model, native, ctx, inbound)
            return
        if previous is not None:
            raise InvalidRequest(
                f"previous_response_id is not supported for {provider.name}/{model.id}: it is "
                "reached by translation and this gateway keeps no conversations; send the full "
                "conversation in input, or use a model served on /responses natively",
                param="previous_response_id",
            )
        _note_dropped(request, f"{provider.name}/{model.id}")
        upstream_request = request.with_model(model.id)
        relay = relay_stream if request.stream else relay_response
        await relay(ex, provider, model, upstream_request, ctx, response_fmt, client_model)

    return fallback_chain(
        gateway, config.upstream, ex, targets, inbound, client_model, headers, attempt
    )


def _embeddings_work(
    gateway: Gateway,
    config: Config,
    ex: Exchange,
    body: dict[str, Any],
    headers: dict[str, str],
) -> Callable[[], Awaitable[None]]:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    if "input" not in body:
        raise InvalidRequest("missing 'input'", param="input")
    client_model: str = body["model"]
    body.setdefault("encoding_format", "float")
    targets = for_kind(
        resolve(client_model, headers, config, gateway.providers), "embeddings", client_model
    )

    async def attempt(target: Target, ctx: RequestContext) -> None:
        native = {**body, "model": target.model.id}
        result = await target.provider.embeddings(native, target.model, ctx)
        usage = result.get("usage")
        if isinstance(usage, dict):
            ex.usage = ir.Usage(input_tokens=int(usage.get("prompt_tokens") or 0))
        await ex.send_json(200, result)

    return fallback_chain(
        gateway, config.upstream, ex, targets, "openai_chat", client_model, headers, attempt
    )


async def _supervised(
    gateway: Gateway,
    limits: UpstreamConfig,
    ex: Exchange,
    receive: Receive,
    work: Callable[[], Awaitable[None]],
    ping_interval: float,
) -> None:
    """Run the upstream work in a scope cancelled by client disconnect, drain expiry
    (`Gateway.expire_drain`) or its own deadline (first byte, then idle: moved by
    `Exchange.saw_upstream`); report whichever happened in the client's format.

    One helper task per request: the client watcher, which also keeps a stream alive."""
    ex.first_byte_deadline = ex.t0 + ex.queued + limits.first_byte_timeout
    ex.idle_timeout = limits.idle_timeout
    scope = ex.work_scope = trio.CancelScope(deadline=ex.first_byte_deadline)
    async with trio.open_nursery() as nursery:
        interval = ping_interval if ex.stream else math.inf
        nursery.start_soon(_watch_client, receive, ex, scope, interval)
        failure: GatewayError | None = None
        gateway.add_work(ex)
        try:
            with scope:
                await work()
        except GatewayError as error:
            failure = error
        except Exception:
            log.exception("request %s failed inside the gateway", ex.request_id)
            failure = GatewayError("internal gateway error")
        finally:
            gateway.discard_work(ex)
        await ex.conclude(
            failure,
            deadline_hit=scope.cancelled_caught,
            timeout_error=lambda: _timeout_error(ex, limits),
        )
        nursery.cancel_scope.cancel()


async def _watch_client(
    receive: Receive, ex: Exchange, scope: trio.CancelScope, ping_interval: float
) -> None:
    """Cancel `scope` when the client hangs up; meanwhile keep a stream alive (`ping_interval`
    is infinite for a non-stream answer)."""
    wake = ex.last_write + ping_interval
    while True:
        if wake == math.inf:  # nothing to keep alive: no timer
            message = await receive()
        else:
            with trio.move_on_at(wake) as timer:
                message = await receive()
            if timer.cancelled_caught:
                wake = await _keep_alive(ex, ping_interval)
                continue
        if message["type"] == "http.disconnect":
            if not ex.finished:
                ex.client_left()
                scope.cancel()
            return


async def _keep_alive(ex: Exchange, interval: float) -> float:
    """After `interval` seconds without output: send what is held, else a ping. Returns when
    to look again (never once the response is finished)."""
    if ex.finished:
        return math.inf
    now = trio.current_time()
    due = ex.last_write + interval
    if now < due:
        return due
    if ex.pending:
        await ex.write(b"")
    elif ex.started and ex.ping is not None:
        await ex.write(ex.ping())
    else:
        return now + interval  # nothing to keep alive yet
    return math.inf if ex.finished else ex.last_write + interval


def _timeout_error(ex: Exchange, limits: UpstreamConfig) -> UpstreamTimeout:
    if ex.upstream_seen is None:
        return UpstreamTimeout(
            f"no answer from the upstream within {limits.first_byte_timeout:g} s"
        )
    return UpstreamTimeout(f"the upstream sent nothing for {limits.idle_timeout:g} s")
