"""The contract every wire format implements in full, as one frozen dataclass of functions.

`formats.table.FORMATS` holds one `FormatCodec` per `ir.WireFormat`; each format module
builds its own (`anthropic.CODEC`, ...) from its functions, so mypy checks every signature
and a format cannot leave one out. Bodies are JSON objects (`JSONObject`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiclient_trio import ir
from aiclient_trio.codecs.sse import SSEEvent
from aiclient_trio.errors import GatewayError

__all__ = [
    "FormatCodec",
    "JSONObject",
    "RenderOptions",
    "StreamParser",
    "StreamRenderer",
    "answer_without_options",
    "renderer_without_options",
]

# A decoded JSON object (a request or response body): its values are whatever JSON holds.
JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What rendering an answer needs from the client's request besides the IR: the names
    of Codex's freeform (custom) tools and the namespace of each namespaced tool (Responses
    renders their calls back in those shapes; the other formats have neither)."""

    custom_tools: frozenset[str] = frozenset()
    tool_namespaces: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: ir.Request) -> RenderOptions:
        return cls(custom_tools=request.custom_tools, tool_namespaces=dict(request.tool_namespaces))


class StreamParser(Protocol):
    """Upstream SSE events in, IR events out; `close()` ends an unfinished stream with a
    final `ir.StreamError`."""

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]: ...

    def close(self) -> list[ir.StreamEvent]: ...


class StreamRenderer(Protocol):
    """IR events in, the client's SSE bytes out (possibly empty); `ping()` keeps it alive."""

    def feed(self, event: ir.StreamEvent) -> bytes: ...

    def ping(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class FormatCodec:
    """One wire format's translation functions (all pure, no I/O)."""

    name: ir.WireFormat
    # A client's request body -> IR (`InvalidRequest` naming the field on bad input).
    parse_request: Callable[[object], ir.Request]
    # IR -> an upstream request body in this format.
    render_request: Callable[[ir.Request], JSONObject]
    # An upstream non-stream body -> IR (error bodies raise the mapped `GatewayError`).
    parse_response: Callable[[object], ir.Response]
    # IR -> this format's non-stream answer.
    render_response: Callable[[ir.Response, RenderOptions], JSONObject]
    # (model, input-token estimate) -> a parser of one upstream stream.
    stream_parser: Callable[[str, int], StreamParser]
    # (model, include_usage, options) -> a renderer of one client stream.
    stream_renderer: Callable[[str, bool, RenderOptions], StreamRenderer]
    # A terminal error event for a relayed stream that broke.
    render_stream_error: Callable[[GatewayError], bytes]


# Chat Completions and Anthropic Messages render every answer from the IR alone: these adapt
# their renderers to the contract's signatures, which also hand over the request's options.


def answer_without_options(
    render: Callable[[ir.Response], JSONObject],
) -> Callable[[ir.Response, RenderOptions], JSONObject]:
    """`render_response` for a format whose non-stream answer needs no `RenderOptions`."""

    def render_response(response: ir.Response, options: RenderOptions) -> JSONObject:
        return render(response)

    return render_response


def renderer_without_options(
    make: Callable[[str, bool], StreamRenderer],
) -> Callable[[str, bool, RenderOptions], StreamRenderer]:
    """`stream_renderer` for a format whose stream renderer needs no `RenderOptions`."""

    def stream_renderer(model: str, include_usage: bool, options: RenderOptions) -> StreamRenderer:
        return make(model, include_usage)

    return stream_renderer
