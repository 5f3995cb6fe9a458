"""The Quart handler of the hot API routes: read, parse, route, relay, record.

The app's hooks ran the guards; this reads the body with Quart (`get_data`), parses it with
our own bounded JSON parser (`formats.body`), then answers with a Quart response: whole, or
streamed event by event (`server.http.ResponseSink`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, cast

import trio
from quart import Request, Response
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import RequestTimeout as BodyTimeout

from aiclient_trio import ir
from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    UpstreamTimeout,
)
from aiclient_trio.formats.body import parse_request_body_off_loop
from aiclient_trio.formats.table import codec
from aiclient_trio.formats.tokens import estimate_request_tokens
from aiclient_trio.gateway import Gateway
from aiclient_trio.offload import BIG_BYTES, off_loop
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.router import Target, for_kind, resolve
from aiclient_trio.reliability import (
    RateLimiter,
)
from aiclient_trio.server.exchange import Exchange
from aiclient_trio.server.failover import fallback_chain
from aiclient_trio.server.http import ResponseSink, Scope, header, response
from aiclient_trio.server.lifecycle import Ending
from aiclient_trio.server.relay import (
    relay_passthrough,
    relay_response,
    relay_stream,
)
from aiclient_trio.server.routing import ApiRoute, Route

__all__ = ["PING_INTERVAL", "REQUEST_NURSERY", "handle_api", "refuse", "response_format"]

log = logging.getLogger("aiclient_trio.server")

PING_INTERVAL = 15.0
_PRIVATE_HEADERS = frozenset({b"authorization", b"x-api-key", b"cookie", b"proxy-authorization"})
# The ASGI scope key under which the app puts quart-trio's per-request nursery.
REQUEST_NURSERY = "aiclient.request_nursery"


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
    route: Route,
    request: Request,
    request_id: str,
    *,
    ping_interval: float = PING_INTERVAL,
) -> Response:
    """Serve one POST to a hot route and record it. A whole answer is produced in the handler's
    own task; a stream's relay runs in quart-trio's request nursery (cancelled by quart-trio
    when the client hangs up) while the handler returns the streamed Quart response."""
    config = gateway.config.value
    assert route.api is not None
    sink = ResponseSink()
    ex = Exchange(sink, request_id, route.endpoint, request.method, route.fmt)
    ex.coalesce = config.server.stream_coalesce_ms / 1000
    gateway.active_requests.value += 1
    streaming = False
    try:
        if gateway.start_observers:
            gateway.announce_start(request_id, ex.endpoint)
        work = await _prepare(gateway, config, route.api, route.fmt, ex, request)
        if work is not None and ex.stream:
            sink.stream()
            nursery: trio.Nursery = cast(Scope, request.scope)[REQUEST_NURSERY]
            nursery.start_soon(_stream_work, gateway, config, ex, sink, work)
            streaming = True
            await _wait_for_head(ex, sink, ping_interval)
            if ex.started:
                return sink.streamed(ex, ping_interval)
            # The work ended without an answer: only a client that left gets here.
            return response(499, b"", [])
        if work is not None:
            await _supervised(gateway, config.upstream, ex, work)
        return sink.whole()
    except BaseException:
        ex.client_left()
        raise
    finally:
        if not streaming:
            _done(gateway, ex)


async def refuse(
    gateway: Gateway, route: Route, request_id: str, method: str, error: GatewayError
) -> Response:
    """A hot route's request refused by a guard before its handler ran: the error in the
    route's format, recorded like every other answer of the route."""
    sink = ResponseSink()
    ex = Exchange(sink, request_id, route.endpoint, method, route.fmt)
    gateway.active_requests.value += 1
    try:
        await ex.fail(error, upstream=False)
    finally:
        _done(gateway, ex)
    return sink.whole()


async def _wait_for_head(ex: Exchange, sink: ResponseSink, ping_interval: float) -> None:
    """Until the relay starts the answer: after `ping_interval` seconds without output, held
    structural events go out (they start the stream, so the client hears something)."""
    while not sink.head_ready.is_set():
        with trio.move_on_at(ex.last_write + ping_interval):
            await sink.head_ready.wait()
        if not sink.head_ready.is_set():
            if ex.pending:
                await ex.write(b"")
            else:
                ex.last_write = trio.current_time()


def _done(gateway: Gateway, ex: Exchange) -> None:
    gateway.active_requests.value -= 1
    try:
        gateway.record(ex.record())
    except Exception:  # a broken observer (ledger, metrics) never fails the request
        log.exception("request %s: recording it failed", ex.request_id)


async def _stream_work(
    gateway: Gateway,
    config: Config,
    ex: Exchange,
    sink: ResponseSink,
    work: Callable[[], Awaitable[None]],
) -> None:
    try:
        await _supervised(gateway, config.upstream, ex, work)
    except BaseException:
        ex.client_left()
        raise
    finally:
        sink.head_ready.set()  # the handler never waits for an answer that will not come
        _done(gateway, ex)


async def _prepare(
    gateway: Gateway,
    config: Config,
    route: ApiRoute,
    inbound: ir.WireFormat,
    ex: Exchange,
    request: Request,
) -> Callable[[], Awaitable[None]] | None:
    """Read, parse and route the request (a clean 4xx on bad input, sent through `ex`), wait
    for a rate-limit turn; the upstream work to run, or None when the answer is already out."""
    scope = cast(Scope, request.scope)
    try:
        raw = await _read_body(request, config.server.max_body_bytes, config.server.body_timeout)
        body = await parse_request_body_off_loop(raw, config.server.max_json_depth)
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
            return None
        if route == "embeddings":
            work = _embeddings_work(gateway, config, ex, body, headers)
        else:
            parsed = await off_loop(len(raw) >= BIG_BYTES, _parse, inbound, body)
            work = _chat_work(gateway, config, inbound, ex, body, parsed, headers)
    except GatewayError as error:
        if isinstance(error, RequestTooLarge | RequestTimeout):
            # The rest of the body is unread: the connection cannot carry another request,
            # and saying so keeps clients from reusing it (and failing their next request).
            ex.cors = [*ex.cors, (b"connection", b"close")]
        await ex.fail(error, upstream=False)
        return None
    limiter = gateway.reliability.limiter(_client_key(scope), config.server)
    if limiter is not None and not await _wait_turn(gateway, limiter, ex):
        return None
    return work


async def _read_body(request: Request, limit: int, within: float) -> bytes:
    """The whole body, collected by Quart: 413 as soon as it is known to exceed `limit` (Quart's
    MAX_CONTENT_LENGTH, which `server.app.Front` keeps at the live limit), 408 when it has not
    arrived in full `within` seconds (an upload that stalls would hold the connection)."""
    request.body_timeout = None if within == math.inf else within  # type: ignore[assignment]
    try:
        return await request.get_data(False, False, False)  # not cached, bytes, no form
    except RequestEntityTooLarge:
        raise RequestTooLarge(f"request body exceeds the limit of {limit} bytes") from None
    except BodyTimeout:
        raise RequestTimeout(
            f"the request body did not arrive in full within {within:g} s; send the whole "
            "body at once (server.body_timeout sets the limit)"
        ) from None


def _client_key(scope: Scope) -> str:
    """Whose rate-limit bucket: the peer address and User-Agent (Claude Code and Codex on
    one machine get one bucket each)."""
    client = scope.get("client")
    host = str(client[0]) if client else "?"
    return f"{host} {header(scope, b'user-agent') or ''}"


async def _wait_turn(gateway: Gateway, limiter: RateLimiter, ex: Exchange) -> bool:
    """Take a rate-limit token, waiting in the FIFO queue; False when the wait ended the
    request instead (refused: 429, or the drain expired meanwhile: 529), rendered by the
    exchange's one ending. A client that leaves while it waits is cancelled by quart-trio."""
    queued_at = trio.current_time()
    refused: RateLimited | None = None
    with trio.CancelScope() as scope:
        ex.work_scope = scope  # the drain's expiry ends the wait too
        gateway.add_work(ex)
        try:
            await limiter.acquire()
        except RateLimited as error:
            refused = error
        finally:
            gateway.discard_work(ex)
            ex.work_scope = None
    end = await ex.conclude(refused, deadline_hit=False, timeout_error=_no_deadline, upstream=False)
    if end is not Ending.COMPLETE:
        return False
    ex.queued = trio.current_time() - queued_at
    return True


def _no_deadline() -> GatewayError:
    raise AssertionError("the rate-limit wait has no deadline")


async def _count_tokens(ex: Exchange, body: dict[str, Any], size: int) -> None:
    def count() -> int:
        return estimate_request_tokens(codec("anthropic").parse_request(body))

    estimate = await off_loop(size >= BIG_BYTES, count)
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
    work: Callable[[], Awaitable[None]],
) -> None:
    """Run the upstream work in a scope cancelled by drain expiry (`Gateway.expire_drain`) or
    its own deadline (first byte, then idle: moved by `Exchange.saw_upstream`); report
    whichever happened in the client's format. A client that hangs up cancels the request
    from outside (quart-trio): no watcher of ours."""
    ex.first_byte_deadline = ex.t0 + ex.queued + limits.first_byte_timeout
    ex.idle_timeout = limits.idle_timeout
    scope = ex.work_scope = trio.CancelScope(deadline=ex.first_byte_deadline)
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
    failure = None  # its traceback holds this frame: no cycle keeps the request alive


def _timeout_error(ex: Exchange, limits: UpstreamConfig) -> UpstreamTimeout:
    if ex.upstream_seen is None:
        return UpstreamTimeout(
            f"no answer from the upstream within {limits.first_byte_timeout:g} s"
        )
    return UpstreamTimeout(f"the upstream sent nothing for {limits.idle_timeout:g} s")
