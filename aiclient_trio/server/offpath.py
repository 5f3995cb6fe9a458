"""The Quart handlers of the routes off the hot path: `/`, probes, the model list, usage, metrics.

Guards, the request id and CORS are the app's hooks (`server.app`); errors raised here are
rendered by its one error handler. The route bodies themselves (`model_list`, `usage_summary`,
...) live in `server.routes`.
"""

from __future__ import annotations

from typing import Any

from quart import Response, request

from aiclient_trio import __version__
from aiclient_trio.errors import NotFound
from aiclient_trio.gateway import Gateway
from aiclient_trio.server.http import JSON_TYPE, dumps, response
from aiclient_trio.server.routes import clear_usage, model_entry, model_list, usage_summary
from aiclient_trio.server.routing import Handler

__all__ = ["offpath_handlers"]


def _json(value: Any, status: int = 200) -> Response:
    return response(status, dumps(value), [(b"content-type", JSON_TYPE)])


def _arg(name: str) -> str | None:
    """The first value of a query parameter (blank values kept)."""
    value: str | None = request.args.get(name)
    return value


def offpath_handlers(gateway: Gateway) -> dict[str, Handler]:
    """Handlers by the names `server.routing.route_table` uses."""

    async def root() -> Response:
        return _json({"status": "ok", "service": "aiclient-trio", "version": __version__})

    async def healthz() -> Response:
        draining = gateway.draining.is_set()
        return _json({"status": "ok", "version": __version__, "draining": draining})

    async def readyz() -> Response:
        providers = {name: p.status.value.to_json() for name, p in gateway.providers.items()}
        for name, entry in providers.items():
            # A model whose circuit is open fails fast while the provider's others still serve.
            circuits = gateway.reliability.circuits(name)
            if circuits:
                entry["circuits"] = circuits
        draining = gateway.draining.is_set()
        ready = not draining and any(p.status.value.ready for p in gateway.providers.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready"}
        body["providers"] = providers
        if draining:
            body["draining"] = True
        return _json(body, 200 if ready else 503)

    async def metrics() -> Response:
        if gateway.metrics is None:
            raise NotFound("metrics are not enabled")
        text = gateway.metrics.render().encode()
        content_type = gateway.metrics.CONTENT_TYPE.encode("latin-1")
        return response(200, text, [(b"content-type", content_type)])

    async def models() -> Response:
        return _json(model_list(gateway))

    async def model(model_id: str) -> Response:
        return _json(model_entry(gateway, model_id))

    async def usage() -> Response:
        if request.method == "DELETE":
            return _json(await clear_usage(gateway, _arg("before")))
        group = _arg("group")
        summary = await usage_summary(
            gateway,
            since=_arg("since"),
            until=_arg("until"),
            group="model" if group is None else group,
        )
        return _json(summary)

    return {
        "root": root,
        "healthz": healthz,
        "readyz": readyz,
        "metrics": metrics,
        "models": models,
        "model": model,
        "usage": usage,
    }
