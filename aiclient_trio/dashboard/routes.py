"""The dashboard's HTTP routes under `/ui`: a list of Quart rules and views plus the hooks that
guard them (`DashboardHTTP`), for the server's route table, or as one Quart blueprint.

Every request passes the same Host allow-list as the API, then the same-origin checks; the
API key (when set) is asked for once and kept as an HttpOnly SameSite cookie; every change is
a JSON `POST` carrying the page's CSRF token. Responses carry a strict CSP and no CORS headers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import trio
from quart import Blueprint, Response, redirect, request

from aiclient_trio import __version__, untrusted
from aiclient_trio.dashboard.security import (
    COOKIE_NAME,
    CSRF_HEADER,
    SECURITY_HEADERS,
    check_same_origin,
)
from aiclient_trio.dashboard.service import Dashboard
from aiclient_trio.errors import AuthenticationError, GatewayError, InvalidRequest, NotFound
from aiclient_trio.server import guards

__all__ = ["DASHBOARD", "DashboardHTTP", "DashboardRoute", "dashboard_blueprint"]

log = logging.getLogger("aiclient.dashboard")

PREFIX = "/ui"
# The blueprint's name (Quart's `request.blueprint` on its routes).
DASHBOARD = "dashboard"
# Seconds between keep-alive comments on the event stream.
PING_SECONDS = 15.0
_ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Pages and calls that work before the API key was given.
_OPEN_RULES = frozenset({f"{PREFIX}/login", f"{PREFIX}/assets/<name>"})


def _asset(name: str) -> bytes:
    return resources.files("aiclient_trio.dashboard").joinpath("assets", name).read_bytes()


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(value, separators=(",", ":"), default=str),
        status=status,
        content_type="application/json",
    )


async def _json_body() -> dict[str, Any]:
    body = await request.get_data()
    if len(body) > 64 * 1024:
        raise InvalidRequest("request body too large for a dashboard call")
    if not body:
        return {}
    try:
        value = untrusted.loads(body)
    except ValueError as exc:
        raise InvalidRequest(f"the body must be JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest("the body must be a JSON object")
    return value


def _str_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidRequest(f"field {name!r} (a string) is required", param=name)
    return value


@dataclass(frozen=True, slots=True)
class DashboardRoute:
    """One dashboard route: a Quart rule (full path, each once), its methods and its view."""

    rule: str
    methods: tuple[str, ...]
    view: Callable[..., Awaitable[Response]]

    @property
    def name(self) -> str:
        return "dashboard:" + self.rule


class DashboardHTTP:
    """The routes and the hooks a server registers for the dashboard: `routes()` for its route
    map, `guard()` before each of them, `secure()` on each answer, `error()` for refusals."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def _api_key(self) -> str | None:
        key: str | None = self.dashboard.gateway.config.value.api_key
        return key

    # -- hooks ---------------------------------------------------------------------------------

    async def guard(self) -> Response | None:
        """Host allow-list, same origin, the session (when a key is set), JSON + CSRF on POST."""
        dashboard = self.dashboard
        config = dashboard.gateway.config.value
        state_changing = request.method not in ("GET", "HEAD")
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        try:
            scope: Any = request.scope
            guards.check_host(scope, config)
            headers = {k.lower(): v for k, v in request.headers.items()}
            check_same_origin(headers, state_changing=state_changing)
            if rule not in _OPEN_RULES and not dashboard.keys.check_session(
                request.cookies.get(COOKIE_NAME), config.api_key
            ):
                if request.method == "GET" and rule == PREFIX:
                    return redirect(f"{PREFIX}/login")  # type: ignore[return-value]
                raise AuthenticationError("sign in to the dashboard with the gateway's API key")
            if state_changing:
                if request.mimetype != "application/json":
                    raise InvalidRequest("dashboard changes are JSON POSTs sent by the page")
                if rule != f"{PREFIX}/login":
                    dashboard.keys.check_csrf(request.headers.get(CSRF_HEADER))
        except GatewayError as error:
            if error.status == 403:  # a foreign page or host: worth a line in the log
                log.warning("dashboard refused %s %s: %s", request.method, request.path, error)
            return self.error(error)
        return None

    def secure(self, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        # No Access-Control-* header, ever: another site's page may not read anything here.
        response.headers.remove("Access-Control-Allow-Origin")
        return response

    def error(self, error: GatewayError) -> Response:
        return _json({"error": {"message": error.message, "type": error.kind}}, error.status)

    # -- the route list ------------------------------------------------------------------------

    def routes(self) -> list[DashboardRoute]:
        get, post = ("GET",), ("POST",)
        return [
            DashboardRoute(PREFIX, get, self.index),
            DashboardRoute(f"{PREFIX}/login", ("GET", "POST"), self.login),
            DashboardRoute(f"{PREFIX}/logout", post, self.logout),
            DashboardRoute(f"{PREFIX}/assets/<name>", get, self.asset),
            DashboardRoute(f"{PREFIX}/api/overview", get, self.overview),
            DashboardRoute(f"{PREFIX}/api/quota", get, self.quota),
            DashboardRoute(f"{PREFIX}/api/usage", get, self.usage),
            DashboardRoute(f"{PREFIX}/api/requests/<request_id>", get, self.request_row),
            DashboardRoute(f"{PREFIX}/api/logs", get, self.logs),
            DashboardRoute(f"{PREFIX}/api/settings", ("GET", "POST"), self.settings),
            DashboardRoute(f"{PREFIX}/api/events", get, self.events),
            DashboardRoute(f"{PREFIX}/api/providers/<name>/<action>", post, self.provider_action),
        ]

    # -- pages ---------------------------------------------------------------------------------

    async def index(self) -> Response:
        page = _asset("index.html").decode()
        page = page.replace("{{csrf}}", self.dashboard.keys.csrf_token)
        page = page.replace("{{version}}", __version__)
        page = page.replace("{{logout}}", "" if self._api_key() else "hidden")
        return Response(page, content_type="text/html; charset=utf-8")

    async def login(self) -> Response:
        """GET: the API-key form; POST {"key"}: the session cookie for the right key."""
        key = self._api_key()
        if request.method == "GET":
            if not key:
                return redirect(PREFIX)  # type: ignore[return-value]
            return Response(_asset("login.html"), content_type="text/html; charset=utf-8")
        if not key:
            return _json({"ok": True})
        given = _str_field(await _json_body(), "key")
        self.dashboard.keys.check_key(given, key)
        response = _json({"ok": True})
        response.set_cookie(
            COOKIE_NAME,
            self.dashboard.keys.session_for(key),
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
        )
        return response

    async def logout(self) -> Response:
        response = _json({"ok": True})
        response.delete_cookie(COOKIE_NAME, path=PREFIX, httponly=True, samesite="Strict")
        return response

    async def asset(self, name: str) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix not in _ASSET_TYPES or "/" in name or name.startswith("."):
            raise NotFound(f"no dashboard asset {name!r}")
        try:
            body = _asset(name)
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"no dashboard asset {name!r}") from None
        return Response(body, content_type=_ASSET_TYPES[suffix])

    # -- reads ---------------------------------------------------------------------------------

    async def overview(self) -> Response:
        gateway = self.dashboard.gateway
        return _json(
            {
                "version": __version__,
                "started_at": gateway.started_at,
                "uptime": time.time() - gateway.started_at,
                "active_requests": gateway.active_requests.value,
                "draining": gateway.draining.is_set(),
                "providers": await self.dashboard.providers(),
            }
        )

    async def quota(self) -> Response:
        return _json(await self.dashboard.quotas())

    async def usage(self) -> Response:
        return _json(await self.dashboard.usage(request.args.get("range", "24h")))

    async def request_row(self, request_id: str) -> Response:
        return _json(await self.dashboard.request_row(request_id))

    async def logs(self) -> Response:
        raw = request.args.get("lines", "200")
        if not raw.isdigit() or not 0 < int(raw) <= 2000:
            raise InvalidRequest("lines must be a whole number from 1 to 2000", param="lines")
        level = request.args.get("level") or None
        return _json(await self.dashboard.logs(int(raw), level))

    async def settings(self) -> Response:
        """GET: the hot settings; POST {"key", "value"}: change one like `aiclient config set`."""
        if request.method == "GET":
            return _json({"settings": self.dashboard.settings()})
        body = await _json_body()
        key, value = _str_field(body, "key"), _str_field(body, "value")
        return _json(await self.dashboard.change_setting(key, value))

    async def events(self) -> Response:
        feed = self.dashboard.live
        last = request.headers.get("last-event-id", "")
        after = int(last) if last.isdigit() else max(0, feed.seq - 100)

        async def stream() -> AsyncIterator[bytes]:
            nonlocal after
            yield b"retry: 2000\n\n"
            while not feed.closed:
                for event in feed.since(after):
                    after = event.seq
                    data = json.dumps(event.data, separators=(",", ":"), default=str)
                    yield f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()
                with trio.move_on_after(PING_SECONDS) as waited:
                    await feed.wait_after(after)
                if waited.cancelled_caught:
                    yield b": ping\n\n"

        response = Response(stream(), content_type="text/event-stream")
        response.timeout = None
        response.headers["X-Accel-Buffering"] = "no"
        return response

    # -- changes -------------------------------------------------------------------------------

    async def provider_action(self, name: str, action: str) -> Response:
        dashboard = self.dashboard
        if action == "enable":
            return _json(await dashboard.set_enabled(name, True))
        if action == "disable":
            return _json(await dashboard.set_enabled(name, False))
        if action == "sign-in":
            return _json(await dashboard.start_device_sign_in(name))
        if action == "import":
            source = _str_field(await _json_body(), "source")
            return _json(await dashboard.import_credentials(name, source))
        if action == "sign-out":
            return _json(await dashboard.sign_out(name))
        raise NotFound(f"no provider action {action!r}")


def dashboard_blueprint(dashboard: Dashboard) -> Blueprint:
    """The dashboard as a Quart blueprint (its routes with its own hooks), for an app that
    does not list them in its route table."""
    http = DashboardHTTP(dashboard)
    bp = Blueprint(DASHBOARD, __name__)
    for route in http.routes():
        bp.add_url_rule(route.rule, route.name, route.view, methods=list(route.methods))
    bp.before_request(http.guard)

    async def secure(response: Response) -> Response:
        return http.secure(response)

    async def error(exc: GatewayError) -> Response:
        return http.error(exc)

    bp.after_request(secure)
    bp.register_error_handler(GatewayError, error)
    return bp
