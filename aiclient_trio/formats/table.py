"""The format table: one `FormatCodec` per wire format, imported statically.

`codec(fmt)` is how the server and the providers reach a format's functions; a format
missing a function does not type-check, and a broken install fails at import, not on the
first request that needs the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aiclient_trio import ir
from aiclient_trio.formats import anthropic, openai_chat, responses
from aiclient_trio.formats.contract import FormatCodec

__all__ = ["FORMATS", "codec"]

FORMATS: Mapping[ir.WireFormat, FormatCodec] = MappingProxyType(
    {c.name: c for c in (openai_chat.CODEC, anthropic.CODEC, responses.CODEC)}
)


def codec(fmt: ir.WireFormat) -> FormatCodec:
    """The translation functions of `fmt`."""
    return FORMATS[fmt]
