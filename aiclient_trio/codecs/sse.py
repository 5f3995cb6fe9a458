"""Server-sent events: an incremental sans-I/O decoder and a small encoder.

(Interface placeholder: the decoder lands with the codecs work.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: `data` is the `data:` lines joined with "\\n"."""

    data: str
    event: str | None = None
    id: str | None = None
