"""The one route table: every path the daemon serves, its methods, the wire format of its bodies
and errors, whether it needs the API key, and its handler. `server.app` registers it as the
Quart route map; the guards, the error handler and the 404 hints read it from there.

Paths are canonical (no `/v1`): the ASGI front (`server.app.Front`) maps `/v1/x`, `//x` and
`x/` to `/x` before Quart routes the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from quart import Response

from aiclient_trio.ir import WireFormat

__all__ = ["ApiRoute", "KeyPolicy", "Route", "error_format", "route_table"]

ApiRoute = Literal["chat", "messages", "count_tokens", "responses", "embeddings"]
# always: the API key when one is set; never: open; probe: only with server.protect_probes.
KeyPolicy = Literal["always", "never", "probe"]
# A Quart view: keyword arguments from the rule (`model_id`), a Quart response back.
Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # canonical, in Quart's rule syntax (`/models/<path:model_id>`)
    methods: tuple[str, ...]
    fmt: WireFormat  # the shape of its bodies and errors
    key: KeyPolicy
    handler: Handler
    # The endpoint recorded in the ledger and metrics (the path a client calls).
    endpoint: str = ""
    api: ApiRoute | None = None  # a hot API route: parsed, routed to a provider, relayed

    @property
    def name(self) -> str:
        """Quart's endpoint name: unique per route."""
        return self.path


def route_table(api: Handler, offpath: dict[str, Handler]) -> tuple[Route, ...]:
    """Every route; `api` serves the five POST routes, `offpath` the rest by name."""

    def hot(path: str, route: ApiRoute, fmt: WireFormat) -> Route:
        return Route(path, ("POST",), fmt, "always", api, f"/v1{path}", route)

    def read(path: str, name: str, key: KeyPolicy, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, methods, "openai_chat", key, offpath[name], f"/v1{path}")

    return (
        hot("/chat/completions", "chat", "openai_chat"),
        hot("/messages", "messages", "anthropic"),
        hot("/messages/count_tokens", "count_tokens", "anthropic"),
        hot("/responses", "responses", "responses"),
        hot("/embeddings", "embeddings", "openai_chat"),
        read("/", "root", "never"),
        read("/healthz", "healthz", "never"),
        read("/readyz", "readyz", "probe"),
        read("/metrics", "metrics", "probe"),
        read("/models", "models", "always"),
        read("/models/<path:model_id>", "model", "always"),
        read("/usage", "usage", "always", ("GET", "DELETE")),
    )


def error_format(routes: tuple[Route, ...], path: str) -> WireFormat:
    """The wire format of errors on `path` (a canonical path that may match no rule because of
    its method): its route's, else OpenAI's."""
    for route in routes:
        if route.path == path:
            return route.fmt
    return "openai_chat"
