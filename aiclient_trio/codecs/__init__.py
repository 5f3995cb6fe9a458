"""Sans-I/O wire codecs: feed bytes, get events (h11 style; no Trio, no I/O).

`sse` decodes/encodes server-sent events; `eventstream` decodes AWS event-stream frames.
"""

from aiclient_trio.codecs.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    encode_message,
)
from aiclient_trio.codecs.sse import SSEDecoder, SSEError, SSEEvent, encode_comment, encode_event

__all__ = [
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "SSEDecoder",
    "SSEError",
    "SSEEvent",
    "encode_comment",
    "encode_event",
    "encode_message",
]
