"""Text and JSON from outside the process (clients, upstreams, files on disk, local peers).

Parsers here raise only `ValueError` with a message a user can act on (never RecursionError,
never a NaN that later breaks a serialiser); strings from clients are checked for text that
cannot be encoded and are capped and masked before they are stored, logged or used as labels.
No I/O and no Trio: the server, the control socket and the providers all call these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiclient_trio.redact import redact

__all__ = [
    "CLIENT_TEXT_LIMIT",
    "UntrustedJSON",
    "client_text",
    "has_lone_surrogate",
    "json_object",
    "json_path",
    "loads",
    "lone_surrogate_path",
    "scrub",
]

# Stored and logged client strings (model names, ids) are cut to this many characters.
CLIENT_TEXT_LIMIT = 200
# A lone surrogate can only come from a `\uD800`-`\uDFFF` escape or from the bytes of one
# (which `json.loads(bytes)` lets through); a body without either needs no walk.
_SURROGATE_SOURCE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UntrustedJSON(ValueError):
    """JSON that was refused; the message says why and where."""


def _refuse_constant(name: str) -> Any:
    raise UntrustedJSON(
        f"{name} is not valid JSON (numbers must be finite); send a number or null instead"
    )


def loads(data: bytes | str, *, what: str = "JSON") -> Any:
    """`json.loads` for untrusted input: only `ValueError` (UntrustedJSON) escapes.

    Refuses NaN/Infinity, says "truncated" for input that ends early, and turns the
    recursion limit of deeply nested input into a plain refusal."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except UntrustedJSON as exc:
        raise UntrustedJSON(f"{what}: {exc}") from None
    except RecursionError:
        raise UntrustedJSON(f"{what} is nested too deeply") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            raise UntrustedJSON(
                f"{what} is truncated: it ends (at character {exc.pos}) before the JSON value "
                "is complete"
            ) from None
        raise UntrustedJSON(f"{what} is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UntrustedJSON(
            f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None


def json_object(data: bytes | str) -> dict[str, Any]:
    """`data` as a JSON object, or {} when it is no JSON or no object (an upstream's error
    page, an empty body): for answers read field by field, each field checked where used."""
    try:
        value = loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate on its own (it cannot be encoded as UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_path(parts: tuple[str | int, ...]) -> str:
    """`("messages", 0, "content")` -> `messages[0].content` (how errors name a field)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(body)"


def _strings(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string (keys too) in a parsed JSON value with its path; iterative, any depth."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                yield (*path, key), key
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))


def lone_surrogate_path(value: Any, raw: bytes | None = None) -> str | None:
    """Where the first string that cannot be encoded sits in parsed JSON `value` (a JSON
    path like `messages[0].content`), or None. With the `raw` bytes it came from, bodies
    that cannot hold one are not walked at all."""
    if raw is not None and not _SURROGATE_SOURCE.search(raw):
        return None
    for path, text in _strings(value):
        if has_lone_surrogate(text):
            return _safe_path(path)
    return None


def _safe_path(path: tuple[str | int, ...]) -> str:
    shown = client_text(json_path(tuple(p if isinstance(p, int) else scrub(p) for p in path)))
    assert shown is not None
    return shown


def scrub(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (always encodable, same length)."""
    if not has_lone_surrogate(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


# How far past its limit a client string is read when masking it: longer than any secret
# pattern needs to match.
_REDACT_MARGIN = 512


def client_text(text: str | None, limit: int = CLIENT_TEXT_LIMIT) -> str | None:
    """A client-chosen string made fit to store, log or show: encodable, at most `limit`
    characters (a longer one ends in "...(+N chars)"), credentials masked."""
    if text is None:
        return None
    # Masking can lengthen the text ("tid=0" -> "[REDACTED]"), so mask a window a little
    # longer than the limit (whole secrets, not prefixes cut short of their pattern), then cut.
    window = text[: limit + _REDACT_MARGIN]
    shown = redact(scrub(window))
    if len(shown) <= limit and len(window) == len(text):
        return shown
    rest = len(shown) - limit + len(text) - len(window)
    return f"{shown[:limit]}...(+{rest} chars)"
