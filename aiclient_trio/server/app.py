"""The Quart-Trio app: the route table (`server.routing`) as its route map, the guards as a
before-request hook, the request id and CORS headers as an after-request hook, and one error
handler that renders every refusal in the route's own format.

In front of Quart sits one thin ASGI step (`Front`): it maps `/v1/x`, `//x` and `x/` to the
canonical `/x` before Quart routes the request, and keeps the body limit in step with the live
config. The daemon serves the app with hypercorn's trio worker inside its nursery; the app
starts no background task of its own (Quart's lifespan has nothing to run).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import cast

import trio
from quart import Request, Response, request
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as RouteNotFound

from aiclient_trio.dashboard.routes import PREFIX, dashboard_blueprint
from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
    error_headers,
)
from aiclient_trio.gateway import Gateway
from aiclient_trio.ir import WireFormat
from aiclient_trio.server import guards
from aiclient_trio.server.api import PING_INTERVAL, REQUEST_NURSERY, handle_api, refuse
from aiclient_trio.server.http import (
    JSON_TYPE,
    Message,
    Receive,
    Scope,
    Send,
    base_headers,
    dumps,
    encode_headers,
    error_body,
    response,
)
from aiclient_trio.server.offpath import offpath_handlers
from aiclient_trio.server.paths import canonical_path
from aiclient_trio.server.routing import Route, error_format, route_table

__all__ = ["GatewayApp", "create_app"]

log = logging.getLogger("aiclient_trio.server")

# Per-request values kept in the ASGI scope (Quart's request.scope) by the hooks.
_REQUEST_ID = "aiclient.request_id"
_CORS = "aiclient.cors"
_UI_PATHS = PREFIX + "/"


def _dashboard_request() -> bool:
    """A request for the dashboard (under /ui), matched to one of its routes or not (every
    dashboard route is under /ui: the path alone says it, without Quart's blueprint lookup)."""
    path = request.path
    return path == PREFIX or path.startswith(_UI_PATHS)


def _scope() -> Scope:
    """The current request's ASGI scope (a plain dict; hypercorn's types say TypedDict)."""
    return cast(Scope, request.scope)


class _Connection(TrioASGIHTTPConnection):
    """quart-trio's per-request connection, sharing its nursery with the handler: a stream's
    relay runs there, so the client's disconnect (quart-trio cancels that nursery) ends it."""

    async def handle_request(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, send: Send
    ) -> None:
        cast(Scope, self.scope)[REQUEST_NURSERY] = nursery
        await super().handle_request(nursery, request, partial(_send_finishing, send))


async def _send_finishing(send: Send, message: Message) -> None:
    """Pass `message` on; the last body message is shielded. hypercorn ends the exchange inside
    that call (end of message, then the connection's close or its next cycle) and tells the app
    `http.disconnect` on the way, which makes quart-trio cancel this very task: unshielded, the
    cancellation lands between the two and a connection that must close (408, 413) stays open."""
    if message["type"] == "http.response.body" and not message.get("more_body", False):
        with trio.CancelScope(shield=True):
            await send(message)
    else:
        await send(message)


class GatewayApp(QuartTrio):
    """The Quart-Trio app serving one `Gateway`."""

    asgi_http_class = _Connection

    def __init__(self, gateway: Gateway) -> None:
        super().__init__("aiclient_trio.server", static_folder=None, template_folder=None)
        self.gateway = gateway
        # Seconds without output before a stream gets a keep-alive event (tests shorten it).
        self.ping_interval = PING_INTERVAL
        # The default (60 s) cuts every longer stream without its final event.
        self.config["RESPONSE_TIMEOUT"] = None
        # A body must arrive within this (a client trickling it is refused with 408).
        self.config["BODY_TIMEOUT"] = 60
        self.config["MAX_CONTENT_LENGTH"] = gateway.config.value.server.max_body_bytes
        self.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
        self.url_map.strict_slashes = False
        self.url_map.merge_slashes = False
        self.routes: tuple[Route, ...] = route_table(self._api, offpath_handlers(gateway))
        self._by_name = {route.name: route for route in self.routes}
        for route in self.routes:
            self.add_url_rule(
                route.path,
                route.name,
                route.handler,
                methods=list(route.methods),
                provide_automatic_options=False,
            )
        if gateway.dashboard is not None:
            # The dashboard's routes under /ui, with its own guard, headers and error shape.
            self.register_blueprint(dashboard_blueprint(gateway.dashboard))
        self.before_request(self._guard)
        self.after_request(self._stamp)
        self.register_error_handler(GatewayError, self._gateway_error)
        self.register_error_handler(HTTPException, self._http_error)
        self.asgi_app = Front(self, self.asgi_app)  # type: ignore[method-assign,assignment]

    # -- the route table's API handler -------------------------------------------------------

    async def _api(self) -> Response:
        route = self._by_name[str(request.endpoint)]
        scope = _scope()
        return await handle_api(
            self.gateway, route, request, scope[_REQUEST_ID], ping_interval=self.ping_interval
        )

    # -- hooks -------------------------------------------------------------------------------

    def _route(self) -> Route | None:
        return self._by_name.get(request.endpoint or "")

    def _format(self) -> WireFormat:
        route = self._route()
        return route.fmt if route is not None else error_format(self.routes, request.path)

    async def _guard(self) -> Response | None:
        """Request id, Host and Origin checks, the API key where the route needs it; a CORS
        preflight is answered here."""
        if _dashboard_request():
            return None  # the dashboard's own guard runs next
        scope = _scope()
        scope[_REQUEST_ID] = guards.request_id_for(scope)
        config = self.gateway.config.value
        if request.method == "OPTIONS":
            guards.check_host(scope, config)
            origin = guards.check_origin(scope, config)
            headers = [(b"allow", b"GET, POST, OPTIONS"), *guards.cors_headers(origin, True)]
            return response(204, b"", headers)
        route = self._route()
        needs_key = route is None or route.key == "always"
        if route is not None and route.key == "probe":
            needs_key = config.server.protect_probes
        scope[_CORS] = guards.run_guards(scope, config, api=needs_key)
        return None

    async def _stamp(self, answer: Response) -> Response:
        """The request id (and `request-id` on Anthropic routes) and CORS on every answer
        (the dashboard's pages carry neither)."""
        if _dashboard_request():
            return answer
        scope = _scope()
        request_id: str = scope.get(_REQUEST_ID) or guards.request_id_for(scope)
        for name, value in [*base_headers(self._format(), request_id), *scope.get(_CORS, ())]:
            answer.headers[name.decode("latin-1")] = value.decode("latin-1")
        return answer

    # -- the one error handler ---------------------------------------------------------------

    async def _gateway_error(self, error: GatewayError) -> Response:
        request_id: str = _scope().get(_REQUEST_ID) or ""
        route = self._route()
        if route is not None and route.api is not None:
            # Only a guard gets here on a hot route (its handler answers its own errors).
            return await refuse(self.gateway, route, request_id, request.method, error)
        headers = [(b"content-type", JSON_TYPE), *encode_headers(error_headers(error).items())]
        if isinstance(error, RequestTooLarge):
            headers.append((b"connection", b"close"))  # the rest of the body is unread
        body = dumps(error_body(error, self._format(), request_id))
        return response(error.status, body, headers)

    async def _http_error(self, error: HTTPException) -> Response:
        """Quart's own refusals (no such route, wrong method, body too large) and crashes."""
        method, path = request.method, request.path
        if isinstance(error, MethodNotAllowed):
            allowed = sorted(set(error.valid_methods or ()) - {"HEAD"})
            refused = InvalidRequest(
                f"{method} is not allowed on {path}; use {' or '.join(allowed)}", status=405
            )
            answer = await self._gateway_error(refused)
            answer.headers["allow"] = ", ".join(allowed)
            return answer
        if isinstance(error, RouteNotFound):
            return await self._gateway_error(self._not_found(method, path))
        if isinstance(error, RequestEntityTooLarge):
            limit = self.gateway.config.value.server.max_body_bytes
            return await self._gateway_error(
                RequestTooLarge(f"request body exceeds the limit of {limit} bytes")
            )
        status = error.code or 500
        if status >= 500:
            return await self._gateway_error(GatewayError("internal gateway error"))
        return await self._gateway_error(
            GatewayError(error.description or error.name, status=status)
        )

    def _not_found(self, method: str, path: str) -> NotFound:
        known = [route.path for route in self.routes if route.api is not None] + ["/models"]
        close = difflib.get_close_matches(path, known, n=1, cutoff=0.8)
        hint = f"; did you mean /v1{close[0]}?" if close else ""
        return NotFound(f"no such route: {method} {path}{hint}", code="unknown_route")


# Quart's own `asgi_app` (typed with hypercorn's TypedDict scopes, which a plain dict is not).
AsgiApp = Callable[..., Awaitable[None]]


class Front:
    """The ASGI step in front of Quart: canonical paths (before Quart routes them) and the body
    limit of the live config (Quart reads it when it builds the request)."""

    def __init__(self, app: GatewayApp, inner: AsgiApp) -> None:
        self.app, self.inner = app, inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["path"] = canonical_path(scope["path"])
            limit = self.app.gateway.config.value.server.max_body_bytes
            self.app.config["MAX_CONTENT_LENGTH"] = limit
        await self.inner(scope, receive, send)


def create_app(gateway: Gateway) -> GatewayApp:
    """The ASGI app the daemon serves with hypercorn's trio worker."""
    return GatewayApp(gateway)
