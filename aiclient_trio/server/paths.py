"""Request path normalisation: the one place that decides which route a path means.

Paths answer with or without the `/v1` prefix, with `//` collapsed and a trailing `/` ignored.
"""

from __future__ import annotations

__all__ = ["canonical_path"]


def canonical_path(path: str) -> str:
    """`/v1//messages/` -> `/messages`; `/v1` -> `/`; query strings never reach here."""
    if "?" in path:  # a raw path with its query (some servers pass it through)
        path = path.split("?", 1)[0]
    while "//" in path:
        path = path.replace("//", "/")
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    if path == "/v1":
        return "/"
    if path.startswith("/v1/"):
        path = path[3:]
    return path or "/"
