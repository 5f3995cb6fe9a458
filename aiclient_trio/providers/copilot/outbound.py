"""Upstream request bodies, built from what the client sent: pure functions of their inputs.

The provider runs them in a worker thread for big requests (`offload.off_loop`): rendering,
sanitising, checking and encoding 200k messages is seconds of CPU the event loop must not
wait for. The encoded bytes go upstream as they are (no second `json.dumps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiclient_trio import ir
from aiclient_trio.formats.table import codec
from aiclient_trio.offload import dumps_in_pieces
from aiclient_trio.providers.base import ModelInfo
from aiclient_trio.providers.copilot.initiator import has_image, initiator_for
from aiclient_trio.providers.copilot.interaction import texts_of_body
from aiclient_trio.providers.copilot.limits import ModelLimits, check_request, requested_output
from aiclient_trio.providers.copilot.sanitize import carry_cache_hints, prepare_body

__all__ = ["PassthroughBody", "TranslatedBody", "passthrough_body", "translated_body"]


@dataclass(frozen=True, slots=True)
class TranslatedBody:
    body: dict[str, Any]
    encoded: bytes


@dataclass(frozen=True, slots=True)
class PassthroughBody:
    body: dict[str, Any]
    encoded: bytes
    # The client wants one body but the answer may be longer than the model's non-stream
    # limit: the upstream call streams and the answer is gathered.
    gather: bool
    initiator: str
    texts: tuple[str, str]
    images: bool


def translated_body(
    fmt: ir.WireFormat,
    request: ir.Request,
    model: ModelInfo,
    limits: ModelLimits,
    *,
    stream: bool,
) -> TranslatedBody:
    """`request` rendered in `fmt` for `model`, sanitised and checked against its limits."""
    rendered = codec(fmt).render_request(request.with_model(model.id))
    if stream:
        rendered["stream"] = True
        if fmt == "openai_chat":
            rendered["stream_options"] = {"include_usage": True}
    carry_cache_hints(fmt, rendered, request)
    upstream = prepare_body(fmt, rendered, model.id, model.max_output_tokens)
    check_request(fmt, upstream, model.id, limits)
    return TranslatedBody(upstream, dumps_in_pieces(upstream).encode())


def passthrough_body(
    fmt: ir.WireFormat, body: dict[str, Any], model: ModelInfo, limits: ModelLimits
) -> PassthroughBody:
    """The client's `body`, sanitised and checked for `model`, and what the ledger and the
    call's headers need to know of it."""
    upstream = prepare_body(fmt, body, model.id, model.max_output_tokens)
    check_request(fmt, upstream, model.id, limits)
    wanted, most = requested_output(upstream), limits.max_non_streaming_output
    gather = not upstream.get("stream") and most is not None and (wanted or 0) > most
    if gather:
        upstream = {**upstream, "stream": True}
        if fmt == "openai_chat":
            upstream["stream_options"] = {"include_usage": True}
    return PassthroughBody(
        upstream,
        dumps_in_pieces(upstream).encode(),
        gather,
        initiator_for(fmt, body),
        texts_of_body(fmt, body),
        has_image(body),
    )
