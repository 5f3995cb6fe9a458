# Lean ASGI handlers for the routes off the hot path: probes, `/`, the model list, usage, metrics.
# No web framework: quart-trio alone added ~10 MB to the idle daemon (issue 9 memory target).
"""`serve_offpath(gateway, scope, send, path, extra)` answers GET (and HEAD) routes,
GET/DELETE /usage, and 404/405 as JSON.

It sees canonical paths (no `/v1`); guards already ran in `aiclient_trio.server.app`. The
route bodies themselves (`model_list`, `usage_summary`, ...) live in `server.routes`.
"""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import parse_qsl

from aiclient_trio import __version__
from aiclient_trio.errors import GatewayError, NotFound, openai_error_body
from aiclient_trio.gateway import Gateway
from aiclient_trio.server.http import JSON_TYPE, RawHeaders, Scope, Send, dumps, send_bytes
from aiclient_trio.server.paths import HOT_ROUTES
from aiclient_trio.server.routes import clear_usage, model_entry, model_list, usage_summary

__all__ = ["serve_offpath"]

_GET_ROUTES = frozenset({"/", "/healthz", "/readyz", "/models", "/metrics", "/usage"})


def _readyz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    providers = {name: p.status.value.to_json() for name, p in gateway.providers.items()}
    for name, entry in providers.items():
        # A model whose circuit is open fails fast while the provider's others still serve.
        circuits = gateway.reliability.circuits(name)
        if circuits:
            entry["circuits"] = circuits
    draining = gateway.draining.is_set()
    ready = not draining and any(p.status.value.ready for p in gateway.providers.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "providers": providers}
    if draining:
        body["draining"] = True
    return (200 if ready else 503), body


def _not_found(method: str, path: str) -> tuple[int, dict[str, Any]]:
    known = [*HOT_ROUTES, "/models"]
    close = difflib.get_close_matches(path, known, n=1, cutoff=0.8)
    hint = f"; did you mean /v1{close[0]}?" if close else ""
    error = NotFound(f"no such route: {method} {path}{hint}", code="unknown_route")
    return 404, openai_error_body(error)


def _not_allowed() -> tuple[int, dict[str, Any]]:
    error = GatewayError("method not allowed for this route", status=405)
    error.kind = "invalid_request"
    return 405, openai_error_body(error)


def _query(scope: Scope) -> dict[str, str]:
    """The first value of each query parameter (blank values kept)."""
    found: dict[str, str] = {}
    raw = bytes(scope.get("query_string", b"")).decode("latin-1")
    for key, value in parse_qsl(raw, keep_blank_values=True):
        found.setdefault(key, value)
    return found


async def _answer(
    gateway: Gateway, method: str, path: str, scope: Scope
) -> tuple[int, dict[str, Any]] | tuple[int, bytes, bytes]:
    """(status, JSON value) or (status, body bytes, content type)."""
    read = method in ("GET", "HEAD")
    if path.startswith("/models/") and len(path) > len("/models/"):
        if not read:
            return _not_allowed()
        try:
            return 200, model_entry(gateway, path[len("/models/") :])
        except GatewayError as error:
            return error.status, openai_error_body(error)
    if path not in _GET_ROUTES:
        return _not_found(method, path)
    if path == "/usage" and method == "DELETE":
        try:
            return 200, await clear_usage(gateway, _query(scope).get("before"))
        except GatewayError as error:
            return error.status, openai_error_body(error)
    if not read:
        return _not_allowed()
    if path == "/":
        return 200, {"status": "ok", "service": "aiclient-trio", "version": __version__}
    if path == "/healthz":
        draining = gateway.draining.is_set()
        return 200, {"status": "ok", "version": __version__, "draining": draining}
    if path == "/readyz":
        return _readyz(gateway)
    if path == "/models":
        return 200, model_list(gateway)
    if path == "/metrics":
        if gateway.metrics is None:
            return 404, openai_error_body(NotFound("metrics are not enabled"))
        text = gateway.metrics.render()
        return 200, text.encode(), gateway.metrics.CONTENT_TYPE.encode("latin-1")
    query = _query(scope)
    try:
        summary = await usage_summary(
            gateway,
            since=query.get("since"),
            until=query.get("until"),
            group=query.get("group", "model"),
        )
    except GatewayError as error:
        return error.status, openai_error_body(error)
    return 200, summary


async def serve_offpath(
    gateway: Gateway, scope: Scope, send: Send, path: str, extra: RawHeaders
) -> None:
    """Answer one off-hot-path request; `extra` (request id, CORS) goes on every response.
    HEAD gets GET's status and headers without the body."""
    method = str(scope["method"]).upper()
    answer = await _answer(gateway, method, path, scope)
    if len(answer) == 3:
        status, body, content_type = answer
    else:
        status, value = answer
        body, content_type = dumps(value), JSON_TYPE
    headers = [(b"content-type", content_type), *extra]
    if method == "HEAD":
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send_bytes(send, status, body, headers)
