"""CPU work on a big request kept off the event loop (issue 14 item 3).

A worker thread alone is not enough: CPython runs one thread at a time, and a single C call
(`json.dumps` of a whole body, one regex over 30 MB) keeps the others waiting until it
returns. So big work goes to a thread *and* is cut into calls of bounded size (JSON is
encoded item by item); the event loop gets its turn between them and /healthz and the other
streams keep flowing. Small requests stay inline: a thread hop costs more than their work.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from aiclient_trio import ir

__all__ = ["BIG_BYTES", "body_is_big", "dumps_in_pieces", "off_loop", "request_is_big"]

T = TypeVar("T")

# A request at least this big (bytes of text, or this many messages/items) is converted in a
# worker thread: ~10 ms of CPU and more, against ~50 us for the hop itself.
BIG_BYTES = 256 * 1024
_BIG_COUNT = 256
# How many values the size checks look at before calling a request big anyway (bounds
# their own cost on the event loop).
_WALK_LIMIT = 4096
# Lists longer than this are encoded item by item, strings longer than this in slices.
_PIECE_ITEMS = 64
_PIECE_CHARS = 256 * 1024
_BULK_LOOK = 256


def request_is_big(request: ir.Request) -> bool:
    """True when converting `request` is worth a worker thread (a cheap, bounded check)."""
    if len(request.messages) > _BIG_COUNT or len(request.tools) > _BIG_COUNT:
        return True
    size, seen = 0, 0
    for message in request.messages:
        for block in message.content:
            seen += 1
            size += _block_size(block)
            if size >= BIG_BYTES or seen > _WALK_LIMIT:
                return True
    size += sum(len(b.text) for b in request.system)
    size += sum(len(t.description or "") for t in request.tools)
    return size >= BIG_BYTES


def _block_size(block: ir.ContentBlock) -> int:
    if isinstance(block, ir.TextBlock):
        return len(block.text)
    if isinstance(block, ir.ThinkingBlock):
        return len(block.thinking)
    if isinstance(block, ir.ImageBlock):
        return len(block.data or block.url or "")
    if isinstance(block, ir.DocumentBlock | ir.RedactedThinkingBlock):
        return len(block.data)
    if isinstance(block, ir.ToolUseBlock):
        return BIG_BYTES if body_is_big(block.input) else 64
    return sum(map(_block_size, block.content))


def body_is_big(value: Any) -> bool:
    """True when JSON `value` holds at least BIG_BYTES of strings or a long list, looking at
    no more than a few thousand values (past that, it is big)."""
    return _exceeds(value, look=_WALK_LIMIT, items=_BIG_COUNT, chars=BIG_BYTES, total=BIG_BYTES)


def _exceeds(value: Any, *, look: int, items: int, chars: int, total: int) -> bool:
    """True when JSON `value` holds a list longer than `items`, a string longer than
    `chars` or strings of `total` characters together, or more than `look` values (the
    walk stops there: its own cost stays bounded)."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > look:
            return True
        if isinstance(item, str):
            total -= len(item)
            if len(item) > chars or total <= 0:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) > items:
                return True
            stack.extend(item)
    return False


async def off_loop(big: bool, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a worker thread when `big`, inline otherwise. `work` must be a pure
    function of its arguments (no trio calls, no shared mutable state)."""
    if not big:
        return work(*args)
    # Abandoned on cancellation: a client that leaves does not wait for the conversion.
    return await trio.to_thread.run_sync(_frames_cleared, work, *args, abandon_on_cancel=True)


def _frames_cleared(work: Callable[..., T], *args: Any) -> T:
    try:
        return work(*args)
    except BaseException as exc:
        # A refusal (a prompt over Kiro's limit) must not keep the big request's objects
        # alive through its traceback's frames, nor free them later on the event loop.
        traceback.clear_frames(exc.__traceback__)
        raise


def dumps_in_pieces(
    value: Any, *, ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": ")
) -> str:
    """`json.dumps(value, ensure_ascii=..., separators=...)`, the same text, built from one
    `json.dumps` per item of long lists (messages, history) and per slice of long strings,
    so no single C call holds the interpreter for the whole body."""
    encode = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators).encode
    if not _bulky(value):
        return encode(value)
    item_sep, key_sep = separators
    parts: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str) and len(item) > _PIECE_CHARS:
            # JSON escapes one character at a time: the slices' texts, unquoted, join up.
            parts.append('"')
            for start in range(0, len(item), _PIECE_CHARS):
                parts.append(encode(item[start : start + _PIECE_CHARS])[1:-1])
            parts.append('"')
        elif isinstance(item, list) and _bulky(item):
            parts.append("[")
            for i, child in enumerate(item):
                if i:
                    parts.append(item_sep)
                walk(child)
            parts.append("]")
        elif isinstance(item, dict) and all(isinstance(k, str) for k in item) and _bulky(item):
            parts.append("{")
            for i, (key, child) in enumerate(item.items()):
                if i:
                    parts.append(item_sep)
                parts.append(encode(key))
                parts.append(key_sep)
                walk(child)
            parts.append("}")
        else:
            parts.append(encode(item))

    walk(value)
    return "".join(parts)


def _bulky(value: Any) -> bool:
    """Worth encoding in pieces: a long list or a long string within it, or more values
    than a quick look covers (cheap: at most _BULK_LOOK values are looked at)."""
    return _exceeds(value, look=_BULK_LOOK, items=_PIECE_ITEMS, chars=_PIECE_CHARS, total=1 << 62)
