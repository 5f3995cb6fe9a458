"""The two ways an answer reaches the client: IR events rendered per event (translation),
or upstream bytes relayed untouched while a parser reads usage on the side (passthrough).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, TypeVar

from aiclient_trio import ir, untrusted
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.errors import UpstreamError
from aiclient_trio.formats.contract import FormatCodec, RenderOptions
from aiclient_trio.formats.table import codec
from aiclient_trio.providers.base import ModelInfo, Provider, RequestContext
from aiclient_trio.server.exchange import Exchange
from aiclient_trio.server.http import RawHeaders

__all__ = [
    "relay_passthrough",
    "relay_response",
    "relay_stream",
]

T = TypeVar("T")
_CONTENT_EVENTS = (ir.TextDelta, ir.ThinkingDelta, ir.SignatureDelta, ir.ToolInputDelta)
# Upstream headers never relayed: hop-by-hop, framing, and ids we set ourselves.
_DROP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-type",
        "x-request-id",
        "request-id",
        "set-cookie",
    }
)
# A non-stream passthrough body is read whole (to check it is JSON) up to this size.
_MAX_WHOLE_BODY = 64 * 1024 * 1024


@asynccontextmanager
async def _closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an async generator we may leave early (no lingering generator, no warning)."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _track_usage(ex: Exchange, event: ir.StreamEvent) -> None:
    first = isinstance(event, ir.MessageStart) and ex.usage is None
    if first or isinstance(event, ir.MessageDelta):
        ex.usage = event.usage  # type: ignore[union-attr]


async def relay_stream(
    ex: Exchange,
    provider: Provider,
    model: ModelInfo,
    request: ir.Request,
    ctx: RequestContext,
    response_fmt: ir.WireFormat,
    client_model: str,
) -> None:
    """Translation, streamed: each IR event rendered and flushed at once."""
    renderer = codec(response_fmt).stream_renderer(
        client_model, request.include_usage, RenderOptions.of(request)
    )
    ex.pending.clear()  # bytes held from a failed earlier target never went out
    ex.stream_error = lambda error: bytes(renderer.feed(ir.StreamError(error)))
    ex.ping = renderer.ping
    ended = False
    reading = False  # the provider calls before_read: content can wait for the next read
    content_held = False

    async def before_read() -> None:
        # The content the previous upstream read rendered goes out in one write, then a
        # burst is paced (Exchange.pace) before the next read. Structural events alone stay
        # held as before: until content comes, an upstream failure is still a clean error.
        nonlocal reading, content_held
        reading = True
        if content_held:
            content_held = False
            await ex.write(b"")
            await ex.pace()

    ctx.before_read = before_read
    async with provider.open_stream(request, model, ctx) as events, _closing(events) as stream:
        async for event in stream:
            ex.saw_upstream()
            if isinstance(event, ir.StreamError):
                if not ex.started:
                    raise event.error  # nothing sent yet: a clean error or the next target
                ex.note_error(event.error, upstream=True)
            _track_usage(ex, event)
            chunk: bytes = renderer.feed(event)
            if isinstance(event, _CONTENT_EVENTS):
                if reading:
                    ex.hold(chunk)  # leaves before the provider's next upstream read
                    content_held = True
                else:
                    await ex.write(chunk)
            elif isinstance(event, ir.MessageStop | ir.StreamError):
                ended = True
                await ex.finish(chunk)
            else:
                # Structural events (message/block start and stop, the usage delta) always
                # come right before another event: send them together with it.
                ex.hold(chunk)
    if not ended:
        error = UpstreamError("the upstream stream ended before the message was complete")
        await ex.fail(error, upstream=True)


async def relay_response(
    ex: Exchange,
    provider: Provider,
    model: ModelInfo,
    request: ir.Request,
    ctx: RequestContext,
    response_fmt: ir.WireFormat,
    client_model: str,
) -> None:
    """Translation, non-stream: the provider's whole answer (one upstream body, or its
    stream's events gathered), rendered once."""
    answer = await provider.complete(request, model, ctx, ex.saw_upstream)
    response = replace(answer, model=client_model)
    ex.usage = response.usage
    body = codec(response_fmt).render_response(response, RenderOptions.of(request))
    await ex.send_json(200, body)


def _relayed_headers(headers: Mapping[str, str], content_type: str) -> RawHeaders:
    out: RawHeaders = [(b"content-type", content_type.encode("latin-1"))]
    if "event-stream" in content_type:
        out += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    for name, value in headers.items():
        if name.lower() not in _DROP_HEADERS:
            out.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    return out


async def relay_passthrough(
    ex: Exchange,
    provider: Provider,
    model: ModelInfo,
    body: dict[str, Any],
    ctx: RequestContext,
    fmt: ir.WireFormat,
) -> None:
    """Relay a stream's bytes as they arrive (a copy parsed for usage and the end); a
    non-stream body is relayed whole once it parsed as JSON."""
    format_codec = codec(fmt)
    async with provider.open_passthrough(body, model, ctx) as up:
        streaming = "event-stream" in up.content_type
        decoder = SSEDecoder() if streaming else None
        parser = format_codec.stream_parser(ctx.client_model, 0)  # read when streaming
        kept: list[bytes] = []
        kept_size = 0
        partial = bytearray()
        headers = _relayed_headers(up.headers, up.content_type)
        ended = False
        async with _closing(up.body) as chunks:
            async for chunk in chunks:
                ex.saw_upstream()
                if decoder is None:  # a whole body: checked before anything is sent
                    kept.append(chunk)
                    kept_size += len(chunk)
                    if kept_size > _MAX_WHOLE_BODY:
                        raise UpstreamError(
                            f"the upstream's answer exceeds {_MAX_WHOLE_BODY} bytes"
                        )
                    continue
                if not ex.started:
                    await ex.start(up.status, headers)
                    ex.stream_error = format_codec.render_stream_error
                # Only whole events go out, so an error frame never lands inside a cut one.
                if not partial and chunk.endswith(b"\n\n"):
                    await ex.write(chunk)  # the usual chunk: whole events, sent without a copy
                else:
                    partial += chunk
                    cut = _event_end(partial)
                    if cut:
                        await ex.write(bytes(partial[:cut]))
                        del partial[:cut]
                for sse in decoder.feed(chunk):
                    for event in parser.feed(sse):
                        _track_usage(ex, event)
                        if isinstance(event, ir.StreamError):
                            ex.note_error(event.error, upstream=True)
                        if isinstance(event, ir.MessageStop | ir.StreamError):
                            ex.deliver()  # its bytes went out above
                            ended = True
                if not ended:
                    await ex.pace()
    if decoder is None:
        await _relay_whole(ex, format_codec, up.status, headers, b"".join(kept))
        return
    tail = [e for sse in decoder.close() for e in parser.feed(sse)] + list(parser.close())
    if not ex.started:  # the upstream closed its stream without a byte
        failed = next((e for e in tail if isinstance(e, ir.StreamError)), None)
        if failed is not None and up.status < 400:
            raise failed.error  # nothing went out: a clean error (or the next target)
        await ex.start(up.status, headers)
        ex.stream_error = format_codec.render_stream_error
    if up.status >= 400:
        ex.outcome = "client_error" if up.status < 500 and up.status != 429 else "upstream_error"
    for event in tail:
        _track_usage(ex, event)
        if isinstance(event, ir.StreamError) and not ended:
            # The upstream stopped mid-message: tell the client in its own format.
            await ex.fail(event.error, upstream=True)
            return
        ended = ended or isinstance(event, ir.MessageStop)
    await ex.finish(bytes(partial))


def _event_end(data: bytearray) -> int:
    """Length of the complete SSE events at the start of `data` (0: none complete yet)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


async def _relay_whole(
    ex: Exchange, format_codec: FormatCodec, status: int, headers: RawHeaders, raw: bytes
) -> None:
    """A non-stream upstream answer: a success must be JSON (else a clean 502, retried or
    failed over like any upstream error); usage is read from it on the side."""
    if status >= 400:
        ex.outcome = "client_error" if status < 500 and status != 429 else "upstream_error"
    else:
        try:
            data = untrusted.loads(raw)
        except ValueError:
            raise UpstreamError("the upstream answered with a malformed JSON body") from None
        try:
            ex.usage = format_codec.parse_response(data).usage
        except Exception:  # usage is best effort; the client still gets the bytes
            ex.usage = None
    await ex.send_whole(status, raw, headers)
