"""The quart-trio app for everything off the hot path: probes, the model list, `/`.

It sees canonical paths (no `/v1`); guards already ran in `aiclient_trio.server.app`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from aiclient_trio import __version__
from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    ProviderUnavailable,
    openai_error_body,
)
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import ModelInfo
from aiclient_trio.providers.router import split_prefix
from aiclient_trio.server.http import dumps

__all__ = [
    "clear_usage",
    "create_quart_app",
    "model_entry",
    "model_list",
    "provider_quotas",
    "usage_summary",
]


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


def model_entry(gateway: Gateway, model_id: str) -> dict[str, Any]:
    """One entry of the model list by id (`copilot/gpt-4.1`, `gpt-4.1`, an alias)."""
    import difflib

    entries = model_list(gateway)["data"]
    default = gateway.config.value.default_provider
    bare = [e for e in entries if e.get("upstream_id") == model_id and e.get("alias_of") is None]
    matches: list[dict[str, Any]] = [e for e in entries if e["id"] == model_id]
    matches += sorted(bare, key=lambda e: e.get("provider") != default)
    if matches:
        return matches[0]
    ids = [str(e["id"]) for e in entries]
    close = difflib.get_close_matches(model_id, ids, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else " GET /v1/models lists them."
    raise NotFound(f"model {model_id!r} not found.{hint}", param="model")


def _time_bound(name: str, value: str | None) -> float | None:
    from aiclient_trio.ledger import parse_time_bound

    if value is None or value == "":
        return None
    try:
        return parse_time_bound(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}", param=name) from None


async def provider_quotas(gateway: Gateway, wait: float = 5.0) -> dict[str, Any]:
    """Each provider's upstream quota; a slow or failing provider reports an error instead."""
    quotas: dict[str, Any] = {}
    for name, provider in sorted(gateway.providers.items()):
        try:
            with trio.fail_after(wait):
                quotas[name] = await provider.quota()
        except trio.TooSlowError:
            quotas[name] = {"error": "the upstream did not answer in time"}
        except GatewayError as error:
            quotas[name] = {"error": error.message}
    return quotas


async def usage_summary(
    gateway: Gateway, *, since: str | None, until: str | None, group: str = "model"
) -> dict[str, Any]:
    """The ledger's totals and breakdown plus each provider's upstream quota."""
    from aiclient_trio.ledger import LedgerUnavailable, UsageQuery

    if group not in ("model", "provider", "day"):
        raise InvalidRequest(f"group: {group!r} is not one of model, provider, day", param="group")
    if gateway.ledger is None:
        raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
    query = UsageQuery(
        since=_time_bound("since", since),
        until=_time_bound("until", until),
        group=group,  # type: ignore[arg-type]
    )
    try:
        summary = await gateway.ledger.summary(query)
    except LedgerUnavailable as exc:
        raise ProviderUnavailable(str(exc)) from None
    summary["quota"] = await provider_quotas(gateway)
    return summary


async def clear_usage(gateway: Gateway, before: str | None) -> dict[str, Any]:
    from aiclient_trio.ledger import LedgerUnavailable

    if gateway.ledger is None:
        raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
    try:
        deleted = await gateway.ledger.clear(_time_bound("before", before))
    except LedgerUnavailable as exc:
        raise ProviderUnavailable(str(exc)) from None
    return {"deleted": deleted}


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

    @app.route("/models/<path:model_id>", methods=["GET"])
    async def model(model_id: str) -> Response:  # SDKs' models.retrieve()
        try:
            return _json(model_entry(gateway, model_id))
        except GatewayError as error:
            return _json(openai_error_body(error), error.status)

    @app.route("/metrics", methods=["GET"])
    async def metrics() -> Response:
        if gateway.metrics is None:
            return _json(openai_error_body(NotFound("metrics are not enabled")), 404)
        return Response(gateway.metrics.render(), content_type=gateway.metrics.CONTENT_TYPE)

    @app.route("/usage", methods=["GET", "DELETE"])
    async def usage() -> Response:
        try:
            if request.method == "DELETE":
                return _json(await clear_usage(gateway, request.args.get("before")))
            return _json(
                await usage_summary(
                    gateway,
                    since=request.args.get("since"),
                    until=request.args.get("until"),
                    group=request.args.get("group", "model"),
                )
            )
        except GatewayError as error:
            return _json(openai_error_body(error), error.status)

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        import difflib

        from aiclient_trio.server.paths import HOT_ROUTES

        known = [*HOT_ROUTES, "/models"]
        close = difflib.get_close_matches(request.path, known, n=1, cutoff=0.8)
        hint = f"; did you mean /v1{close[0]}?" if close else ""
        route = f"{request.method} {request.path}"
        error = NotFound(f"no such route: {route}{hint}", code="unknown_route")
        return _json(openai_error_body(error), 404)

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        error = GatewayError("method not allowed for this route", status=405)
        error.kind = "invalid_request"
        return _json(openai_error_body(error), 405)

    return app
