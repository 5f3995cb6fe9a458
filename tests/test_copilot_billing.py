"""The pure parts of AI-credit accounting: reading `copilot_usage` off bytes cut anywhere,
token prices, quota snapshot headers and the quota line."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from aiclient_trio import ir
from aiclient_trio.cli.usage_report import format_quota
from aiclient_trio.providers.copilot.billing import Billed, UsageFinder, parse_quota_headers

USAGE = {
    "total_nano_aiu": 53_500_000,
    "token_details": [
        {"token_type": "input", "token_count": 3857},
        {"token_type": "output", "token_count": 120},
        {"token_type": "cache_read", "token_count": 1000},
        {"token_type": "cache_write", "token_count": 64},
    ],
}


def _sse(events: list[tuple[str, dict[str, object]]], newline: str = "\n") -> bytes:
    out = ""
    for name, data in events:
        out += f"event: {name}{newline}data: {json.dumps(data)}{newline}{newline}"
    return out.encode()


STREAM = _sse(
    [
        ("message_start", {"type": "message_start", "message": {"id": "m"}}),
        ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "hi"}}),
        ("message_delta", {"type": "message_delta", "copilot_usage": USAGE}),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def _found(chunks: list[bytes], *, streaming: bool = True) -> list[Billed]:
    found: list[Billed] = []
    finder = UsageFinder(found.append, streaming=streaming)
    for chunk in chunks:
        finder.feed(chunk)
    finder.close()
    return found


def _expect_one(found: list[Billed]) -> None:
    assert len(found) == 1
    assert found[0].credits == 0.0535
    assert found[0].usage == ir.Usage(
        input_tokens=3857,
        output_tokens=120,
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=64,
    )


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_copilot_usage_is_found_once_wherever_the_stream_is_cut(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(STREAM)]
    _expect_one(_found([STREAM[a:b] for a, b in itertools.pairwise(points)]))


def test_copilot_usage_is_found_in_a_stream_sent_byte_by_byte() -> None:
    for stream in (STREAM, STREAM.replace(b"\n", b"\r\n")):
        _expect_one(_found([stream[i : i + 1] for i in range(len(stream))]))
        for cut in range(len(stream)):
            _expect_one(_found([stream[:cut], stream[cut:]]))


def test_every_shape_and_line_ending() -> None:
    for newline in ("\n", "\r\n"):
        crlf = _sse([("response.completed", {"response": {}, "copilot_usage": USAGE})], newline)
        _expect_one(_found([crlf[:7], crlf[7:]]))
    inside = _sse([("", {"choices": [], "usage": {"prompt_tokens": 1, "copilot_usage": USAGE}})])
    _expect_one(_found([inside]))
    body = json.dumps({"id": "msg", "copilot_usage": USAGE}).encode()
    _expect_one(_found([body[:10], body[10:]], streaming=False))
    assert _found([STREAM.replace(b"copilot_usage", b"other_usage")]) == []
    assert _found([b"not json copilot_usage"], streaming=False) == []


def test_quota_snapshot_headers() -> None:
    headers = {
        "x-quota-snapshot-premium_models": "ent=1000&ov=2.5&ovPerm=true&rem=37.5"
        "&rst=2027-01-01T00%3A00%3A00Z"
    }
    assert parse_quota_headers(headers) == {
        "snapshot": "premium_models",
        "unlimited": False,
        "entitlement": 1000.0,
        "percent_remaining": 37.5,
        "overage": 2.5,
        "overage_permitted": True,
        "resets_at": "2027-01-01T00:00:00Z",
    }
    free = parse_quota_headers({"x-quota-snapshot-chat": "ent=-1&rem=100"})
    assert free is not None and free["unlimited"] and free["snapshot"] == "chat"
    assert parse_quota_headers({}) is None


def test_the_quota_line_says_the_billing_and_a_spent_pooled_seat() -> None:
    line = format_quota(
        {
            "unit": "AI credits",
            "remaining": 0,
            "limit": 1000,
            "has_quota": False,
            "resets_at": "2027-01-01",
            "billing": "AI credits",
        }
    )
    assert line == (
        "0 of 1,000 AI credits left, allowance spent, resets 2027-01-01, billed in AI credits"
    )
