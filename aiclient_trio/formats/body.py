"""The JSON body of an API request, parsed within bounds (issue 14 item 3).

Before any object is built, one pass checks how deep the body nests and how many objects
and arrays it holds (a body of countless tiny messages would be gigabytes of Python
objects); that pass, and the search for lone surrogates, go through the body in slices of
`_SLICE` bytes, so none of their C calls keeps the interpreter for long: a big body is
parsed in a worker thread while the event loop answers /healthz and the other streams.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from aiclient_trio import untrusted
from aiclient_trio.errors import InvalidRequest, RequestTooLarge
from aiclient_trio.offload import BIG_BYTES, off_loop

__all__ = [
    "MAX_JSON_CONTAINERS",
    "json_depth_exceeds",
    "parse_request_body",
    "parse_request_body_off_loop",
]

# Objects and arrays one body may hold. A tool round trip of Claude Code is ~10 of them and
# ~100 tokens at the very least (Codex: ~5 and ~50), so this is past a 500k-token context
# (no upstream takes more than ~200k). Each costs ~1 KB of memory and a dozen Python
# objects on its way through the gateway; the interpreter's full garbage collections, which
# run in whatever thread allocates, take time in proportion (~60 ms at the cap, and
# `json.loads` ~35 ms: `nox -s bench`).
MAX_JSON_CONTAINERS = 50_000

_SLICE = 256 * 1024
# From a point outside any string, within a slice: bytes that are no quote, and whole
# strings. Each byte can be matched one way only, so a greedy match is linear. (Not
# possessive `*+`: early CPython 3.11 releases match possessive repeats of groups wrongly,
# and Debian 12's python3 is 3.11.2; tests/test_request_body.py caught it there.)
_OUTSIDE = re.compile(rb'(?:[^"]+|"[^"\\]*(?:\\.[^"\\]*)*")*')
# Inside a string: its characters and escapes, up to (not including) the closing quote.
_INSIDE = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*')
# Everything but brackets outside strings (whole strings included), removed in one pass.
_NOT_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[^"\[\]{}]+')
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_QUOTE = ord('"')
# A lone surrogate can only come from a `\uD800`-`\uDFFF` escape or from its UTF-8-like bytes.
_SURROGATE_SOURCE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _shape(raw: bytes, depth_limit: int, container_limit: int) -> tuple[int, int]:
    """(deepest nesting, objects and arrays) of JSON `raw`, the scan stopping as soon as
    either limit is passed. Invalid JSON gets numbers that are wrong but bounded (the
    parser then says what is wrong with it)."""
    pos, size = 0, len(raw)
    depth = deepest = containers = 0
    in_string = False
    while pos < size:
        end = min(size, pos + max(_SLICE, 2))  # an escape (2 bytes) always fits
        if in_string:
            stop = _INSIDE.match(raw, pos, end).end()  # type: ignore[union-attr]
            if stop < end and raw[stop] == _QUOTE:
                in_string, stop = False, stop + 1
            elif stop == pos:
                break  # a string cut short, or a raw control character after `\`: not JSON
            pos = stop
            continue
        stop = _OUTSIDE.match(raw, pos, end).end()  # type: ignore[union-attr]
        brackets = _NOT_BRACKET.sub(b"", raw[pos:stop])
        if brackets:
            containers += brackets.count(b"[") + brackets.count(b"{")
            levels = list(accumulate(map(_STEP.__getitem__, brackets), initial=depth))
            depth, deepest = levels[-1], max(deepest, max(levels))
            if deepest > depth_limit or containers > container_limit:
                break
        if stop < end:  # a string opens here and goes past this slice
            in_string, stop = True, stop + 1
        pos = stop
    return deepest, containers


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when JSON `raw` nests deeper than `limit` (no recursion, nothing built)."""
    return _shape(raw, limit, 1 << 62)[0] > limit


def _has_surrogate_source(raw: bytes) -> bool:
    if b"\\u" not in raw and b"\xed" not in raw:
        return False
    for start in range(0, len(raw), _SLICE):
        # The windows overlap by a few bytes: a match may start near a window's end.
        if _SURROGATE_SOURCE.search(raw, start, start + _SLICE + 8):
            return True
    return False


def parse_request_body(
    raw: bytes, max_depth: int, max_containers: int = MAX_JSON_CONTAINERS
) -> dict[str, Any]:
    """A JSON object body, or InvalidRequest (bad or truncated JSON, NaN/Infinity, not an
    object, nested deeper than `max_depth`, a string holding a lone surrogate: the error
    names its field) or RequestTooLarge (more than `max_containers` objects and arrays)."""
    deepest, containers = _shape(raw, max_depth, max_containers)
    if deepest > max_depth:
        raise InvalidRequest(f"JSON nesting exceeds the limit of {max_depth} levels")
    if containers > max_containers:
        raise RequestTooLarge(
            f"request body holds more than {max_containers} JSON objects and arrays, the "
            "gateway's limit; send a shorter history (compact the conversation)"
        )
    try:
        value = untrusted.loads(raw, what="request body")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a JSON object")
    where = untrusted.lone_surrogate_path(value) if _has_surrogate_source(raw) else None
    if where is not None:
        raise InvalidRequest(
            f"{where} holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
            "which is not text; send valid Unicode",
            param=where,
        )
    return value


async def parse_request_body_off_loop(raw: bytes, max_depth: int) -> dict[str, Any]:
    """`parse_request_body`, in a worker thread for a big body."""
    return await off_loop(len(raw) >= BIG_BYTES, parse_request_body, raw, max_depth)
