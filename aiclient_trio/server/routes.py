"""The quart-trio app for everything off the hot path: probes, the model list, `/`.

It sees canonical paths (no `/v1`); guards already ran in `aiclient_trio.server.app`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Response
from quart_trio import QuartTrio

from aiclient_trio import __version__
from aiclient_trio.errors import GatewayError, NotFound, openai_error_body
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import ModelInfo
from aiclient_trio.providers.router import split_prefix
from aiclient_trio.server.http import dumps

__all__ = ["create_quart_app", "model_list"]


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status=status, content_type="application/json")


def _model_entry(info: ModelInfo, created: int, created_at: str) -> dict[str, Any]:
    entry = info.to_json()
    entry.update(
        object="model",
        type="model",
        created=created,
        created_at=created_at,
        owned_by=info.provider,
        display_name=info.display_name or info.id,
        max_input_tokens=info.max_prompt_tokens or info.context_window,
        max_tokens=info.max_output_tokens,
    )
    return entry


def _alias_model(gateway: Gateway, target: str) -> ModelInfo | None:
    config = gateway.config.value
    prefix, name = split_prefix(target, gateway.providers)
    provider = gateway.providers.get(prefix or config.default_provider)
    if provider is None:
        return None
    try:
        return provider.resolve_model(name)
    except GatewayError:
        return None


def model_list(gateway: Gateway) -> dict[str, Any]:
    """Every provider's models and the configured aliases, readable by OpenAI and Anthropic
    list clients alike."""
    created = int(gateway.started_at)
    created_at = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: list[dict[str, Any]] = []
    for name in sorted(gateway.providers):
        models = gateway.providers[name].models()
        for info in sorted(models, key=lambda m: m.id):
            data.append(_model_entry(info, created, created_at))
    for alias, targets in sorted(gateway.config.value.aliases.items()):
        entry: dict[str, Any] = {}
        first = _alias_model(gateway, targets[0]) if targets else None
        if first is not None:  # the first target's capabilities, under the alias name
            entry = _model_entry(first, created, created_at)
        entry.update(
            id=alias,
            object="model",
            type="model",
            created=created,
            created_at=created_at,
            owned_by="alias",
            display_name=alias,
            alias_of=list(targets),
        )
        data.append(entry)
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def create_quart_app(gateway: Gateway) -> QuartTrio:
    app = QuartTrio(__name__)
    # Quart cuts responses after 60 s by default; lifetimes belong to the daemon nursery.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = None
    app.extensions["gateway"] = gateway

    @app.route("/", methods=["GET"])
    async def root() -> Response:
        return _json({"status": "ok", "service": "aiclient-trio", "version": __version__})

    @app.route("/healthz", methods=["GET"])
    async def healthz() -> Response:
        return _json(
            {"status": "ok", "version": __version__, "draining": gateway.draining.is_set()}
        )

    @app.route("/readyz", methods=["GET"])
    async def readyz() -> Response:
        providers = {name: p.status.value.to_json() for name, p in gateway.providers.items()}
        ready = not gateway.draining.is_set() and any(
            p.status.value.ready for p in gateway.providers.values()
        )
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "providers": providers}
        if gateway.draining.is_set():
            body["draining"] = True
        return _json(body, 200 if ready else 503)

    @app.route("/models", methods=["GET"])
    async def models() -> Response:
        return _json(model_list(gateway))

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _json(openai_error_body(NotFound("no such route")), 404)

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        error = GatewayError("method not allowed for this route", status=405)
        error.kind = "invalid_request"
        return _json(openai_error_body(error), 405)

    return app
