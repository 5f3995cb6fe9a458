"""The ASGI entry point: hot API routes go to lean handlers, the rest to `server.offpath`.

No web framework: a Quart route cost ~0.7 ms more than a bare ASGI one, and quart-trio
itself ~10 MB of the idle daemon's memory.
"""

from __future__ import annotations

from typing import Any

from aiclient_trio.errors import GatewayError, InvalidRequest
from aiclient_trio.gateway import Gateway
from aiclient_trio.ir import WireFormat
from aiclient_trio.server import guards
from aiclient_trio.server.api import PING_INTERVAL, handle_api
from aiclient_trio.server.http import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    send_bytes,
    send_error,
)
from aiclient_trio.server.offpath import serve_offpath
from aiclient_trio.server.paths import HOT_ROUTES, canonical_path

__all__ = ["GatewayApp", "create_app"]

# Off-hot-path routes that never need the API key (probes may, see server.protect_probes).
_OPEN_PATHS = frozenset({"/", "/healthz"})
_PROBE_PATHS = frozenset({"/readyz", "/metrics"})
# The dashboard's pages and calls (aiclient_trio.dashboard), with their own guards.
_DASHBOARD_PREFIX = "/ui"


class GatewayApp:
    """ASGI callable serving one `Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._dashboard: ASGIApp | None = None
        # Seconds without output before a stream gets a keep-alive event (tests shorten it).
        self.ping_interval = PING_INTERVAL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        raw_path = scope["path"]
        if self.gateway.dashboard is not None and (
            raw_path == _DASHBOARD_PREFIX or raw_path.startswith(_DASHBOARD_PREFIX + "/")
        ):
            await self._dashboard_app()(scope, receive, send)
            return
        path = canonical_path(raw_path)
        request_id = guards.request_id_for(scope)
        method = scope["method"]
        hot = HOT_ROUTES.get(path)
        if hot is not None and method == "POST":
            route, fmt = hot
            await handle_api(
                self.gateway,
                route,
                fmt,
                scope,
                receive,
                send,
                request_id,
                ping_interval=self.ping_interval,
            )
            return
        err_fmt: WireFormat = hot[1] if hot is not None else "openai_chat"
        config = self.gateway.config.value
        try:
            if method == "OPTIONS":
                guards.check_host(scope, config)
                origin = guards.check_origin(scope, config)
                await self._preflight(send, origin, request_id)
                return
            needs_key = path not in _OPEN_PATHS and (
                path not in _PROBE_PATHS or config.server.protect_probes
            )
            cors = guards.run_guards(scope, config, api=needs_key)
            if hot is not None:  # an API route with the wrong method
                error = InvalidRequest(f"{method} is not allowed here; use POST", status=405)
                await send_error(send, error, err_fmt, request_id, [(b"allow", b"POST"), *cors])
                return
        except GatewayError as error:
            await send_error(send, error, err_fmt, request_id)
            return
        extra = [(b"x-request-id", request_id.encode()), *cors]
        await serve_offpath(self.gateway, scope, send, path, extra)

    def _dashboard_app(self) -> ASGIApp:
        """The `/ui` app, built at its first request (Quart is imported only then)."""
        if self._dashboard is None:
            from aiclient_trio.dashboard.app import create_dashboard_app

            assert self.gateway.dashboard is not None
            app: Any = create_dashboard_app(self.gateway.dashboard)
            self._dashboard = app
        return self._dashboard

    async def _preflight(self, send: Send, origin: str | None, request_id: str) -> None:
        headers = [(b"x-request-id", request_id.encode()), (b"allow", b"GET, POST, OPTIONS")]
        await send_bytes(send, 204, b"", [*headers, *guards.cors_headers(origin, True)])


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down: the daemon's nursery owns every lifetime."""
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(gateway: Gateway) -> GatewayApp:
    """The ASGI app the daemon serves with hypercorn's trio worker."""
    return GatewayApp(gateway)
