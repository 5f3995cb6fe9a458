"""Upstream answer bodies: relayed bytes, IR events from SSE, and small reshaping helpers.

Every function that touches an httpx body closes or drains it explicitly: Trio reports httpx's
nested body generators as ResourceWarnings when they are left to the garbage collector.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from aiclient_trio import ir, untrusted
from aiclient_trio.codecs.sse import SSEDecoder
from aiclient_trio.errors import GatewayError, UpstreamError
from aiclient_trio.formats import openai_chat
from aiclient_trio.formats.contract import StreamParser
from aiclient_trio.providers.copilot.billing import UsageFinder
from aiclient_trio.providers.copilot.sanitize import add_reasoning_content, merge_split_choices
from aiclient_trio.upstream import Response
from aiclient_trio.upstream.failures import broken_body

__all__ = [
    "chat_response",
    "describe_error",
    "encode_base64_floats",
    "ir_events",
    "merged_chat_body",
    "quota_from_user",
    "reasoning_content_events",
    "relay_bytes",
]

_REASONING_TEXT = b'"reasoning_text"'


def encode_base64_floats(vector: Sequence[float]) -> str:
    """What the OpenAI SDK decodes for `encoding_format="base64"`: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def quota_from_user(data: Any) -> dict[str, Any]:
    """`copilot_internal/user` as the quota dict `aiclient status` shows (F13).

    `token_based_billing` (2026) says whether the premium snapshot counts AI credits;
    `has_quota: false` means a pooled seat's allowance is spent.
    """
    if not isinstance(data, dict):
        return {"error": "unexpected quota answer"}
    snapshots = data.get("quota_snapshots") or {}
    premium = snapshots.get("premium_interactions") or {}
    token_billing = data.get("token_based_billing")
    return {
        "unit": "AI credits" if token_billing else "premium requests",
        "token_based_billing": token_billing if isinstance(token_billing, bool) else None,
        "remaining": premium.get("remaining"),
        "limit": premium.get("entitlement"),
        "percent_remaining": premium.get("percent_remaining"),
        "unlimited": bool(premium.get("unlimited")),
        "overage_permitted": bool(premium.get("overage_permitted")),
        "overage_count": premium.get("overage_count"),
        "has_quota": premium.get("has_quota"),
        "resets_at": data.get("quota_reset_date"),
        "plan": data.get("copilot_plan"),
    }


async def merged_chat_body(response: Response) -> AsyncGenerator[bytes, None]:
    """A non-stream chat answer with Claude's split choices merged into one (F5)."""
    raw = await response.aread()
    try:
        data = untrusted.loads(raw)
    except ValueError:
        yield raw
        return
    if not isinstance(data, dict):
        yield raw
        return
    data = merge_split_choices(data)
    add_reasoning_content(data)
    yield json.dumps(data).encode()


def _event_end(data: bytes | bytearray) -> int:
    """Length of the complete SSE events at the start of `data` (0: none complete yet)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _with_reasoning_content(events: bytes) -> bytes:
    """Whole SSE events with `reasoning_content` added beside each `reasoning_text`."""
    if _REASONING_TEXT not in events:
        return events
    lines = events.split(b"\n")
    for i, line in enumerate(lines):
        if not line.startswith(b"data:") or _REASONING_TEXT not in line:
            continue
        ending = b"\r" if line.endswith(b"\r") else b""
        try:
            data = untrusted.loads(line[5:].strip())
        except ValueError:
            continue  # relayed as it came; the stream parser reports a broken event
        if add_reasoning_content(data):
            lines[i] = b"data: " + json.dumps(data).encode() + ending
    return b"\n".join(lines)


async def reasoning_content_events(raw: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """A chat stream's bytes with `reasoning_content` beside Copilot's `reasoning_text`.

    Chunks of whole events without reasoning pass through untouched (no copy); otherwise
    events are rewritten once complete, so a field cut across two reads is still found.
    """
    held = bytearray()
    async for chunk in raw:
        if not held and _REASONING_TEXT not in chunk and _event_end(chunk) == len(chunk):
            yield chunk
            continue
        held += chunk
        cut = _event_end(held)
        if cut:
            out = _with_reasoning_content(bytes(held[:cut]))
            del held[:cut]
            yield out
    if held:
        yield _with_reasoning_content(bytes(held))


def chat_response(raw: bytes, model: str, input_estimate: Callable[[], int]) -> ir.Response:
    """A non-stream chat answer as the IR response its streamed twin gathers into.

    Split choices are merged first (F5); like the stream parser, the message id is invented
    when missing, the model is ours, a missing usage becomes our estimate (flagged; the input
    estimate is computed only then) and a missing finish_reason means the turn ended.
    """
    try:
        data = untrusted.loads(raw)
    except ValueError:
        raise UpstreamError("the upstream answered with a malformed JSON body") from None
    if isinstance(data, dict):
        data = merge_split_choices(data)
    response = openai_chat.parse_response(data)  # an {"error": ...} body raises its error
    usage = response.usage
    if not isinstance(data.get("usage"), dict):
        usage = ir.Usage(
            input_tokens=input_estimate(),
            output_tokens=math.ceil(_output_chars(response) / 4),
            input_estimated=True,
            output_estimated=True,
        )
    return ir.Response(
        id=response.id or f"chatcmpl-{uuid.uuid4().hex}",
        model=model,
        content=response.content,
        stop_reason=response.stop_reason or "end_turn",
        usage=usage,
    )


def _output_chars(response: ir.Response) -> int:
    total = 0
    for block in response.content:
        if isinstance(block, ir.TextBlock):
            total += len(block.text)
        elif isinstance(block, ir.ThinkingBlock):
            total += len(block.thinking) + len(block.signature or "")
        elif isinstance(block, ir.ToolUseBlock):
            total += len(json.dumps(block.input))
    return total


async def relay_bytes(
    raw: AsyncIterator[bytes], finder: UsageFinder | None = None
) -> AsyncGenerator[bytes, None]:
    """Upstream bytes as they arrive (`finder` reads the billing off them); a broken stream
    raises UpstreamError (the server then ends the client's stream with its error event)."""
    try:
        async for chunk in raw:
            if finder is not None:
                finder.feed(chunk)
            yield chunk
    except httpx.HTTPError as exc:
        raise broken_body(exc, "Copilot") from None
    if finder is not None:
        finder.close()


async def ir_events(
    raw: AsyncIterator[bytes],
    parser: StreamParser,
    before_read: Callable[[], Awaitable[None]] | None = None,
    finder: UsageFinder | None = None,
) -> AsyncGenerator[ir.StreamEvent, None]:
    decoder = SSEDecoder()
    try:
        while True:
            if before_read is not None:
                await before_read()
            try:
                chunk = await raw.__anext__()
            except StopAsyncIteration:
                break
            if finder is not None:
                finder.feed(chunk)
            for sse in decoder.feed(chunk):
                for event in parser.feed(sse):
                    if isinstance(event, ir.MessageStop) and finder is not None:
                        finder.close()  # billed before the server records the call
                    yield event
                    if isinstance(event, ir.MessageStop | ir.StreamError):
                        return
        if finder is not None:
            finder.close()
        tail = [e for sse in decoder.close() for e in parser.feed(sse)]
    except httpx.HTTPError as exc:
        yield ir.StreamError(broken_body(exc, "Copilot"))
        return
    for event in [*tail, *parser.close()]:
        yield event
        if isinstance(event, ir.MessageStop | ir.StreamError):
            return


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    return type(exc).__name__
