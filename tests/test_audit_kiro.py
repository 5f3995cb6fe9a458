"""Audit of issue 4 (Kiro): the gaps the earlier tests left open, each over real sockets.

kiro.md section 8.4 per client format, mid-stream faults in every format, the OpenAI SDKs'
two-turn tool loops and thinking against a `kiro/` model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fault_kit import error_of
from test_faults_copilot import call
from test_faults_kiro import MODEL, kiro_rig

# kiro.md 8.4: upstream answers -> (status, Anthropic error type, OpenAI type, OpenAI code,
# a fragment of the message).
HTTP_TABLE: dict[tuple[str, ...], tuple[int, str, str, str | None, str]] = {
    ("malformed",): (
        400,
        "invalid_request_error",
        "invalid_request_error",
        None,
        "Improperly formed request",
    ),
    ("too_long",): (
        400,
        "invalid_request_error",
        "invalid_request_error",
        "context_length_exceeded",
        "prompt is too long",
    ),
    ("invalid_model",): (
        404,
        "not_found_error",
        "invalid_request_error",
        "model_not_found",
        "not available",
    ),
    # Still refused after the one forced refresh and retry.
    ("bearer", "bearer"): (
        401,
        "authentication_error",
        "authentication_error",
        "invalid_api_key",
        "aiclient auth kiro",
    ),
    ("forbidden",): (403, "permission_error", "permission_error", None, "not authorized"),
    ("quota",): (
        429,
        "rate_limit_error",
        "insufficient_quota",
        "insufficient_quota",
        "limit",
    ),
    ("throttle",): (
        429,
        "rate_limit_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "busy",
    ),
    ("internal",): (500, "api_error", "api_error", None, "unexpected error"),
}
FORMATS = ("anthropic", "openai_chat", "responses")


async def test_http_error_table_in_every_client_format(tmp_path: Path) -> None:
    async with kiro_rig(tmp_path, circuit_failures=0) as rig:
        for faults, expected in HTTP_TABLE.items():
            status, anthropic_type, openai_type, openai_code, fragment = expected
            for fmt in FORMATS:
                for stream in (False, True):
                    rig.sim.faults.http_errors.extend(faults)
                    response = await call(rig.url, fmt, MODEL, stream)
                    where = f"{faults} {fmt} stream={stream}: {response.text[:300]}"
                    # Refused before the first byte: a real status, not a 200 stream.
                    assert response.status_code == status, where
                    error = error_of(fmt, response)
                    assert fragment in error["message"], where
                    if fmt == "anthropic":
                        assert error["type"] == anthropic_type, where
                    else:  # Responses refusals before the stream use the OpenAI error body
                        assert (error["type"], error["code"]) == (openai_type, openai_code), where
                    if faults == ("quota",):
                        assert response.headers["x-should-retry"] == "false", where
                    if faults == ("throttle",):
                        assert response.headers["retry-after"] == "2", where
                    assert rig.sim.faults.http_errors == [], where


async def test_mid_stream_exception_and_error_frames_in_every_format(tmp_path: Path) -> None:
    """S6 and S8 after partial output: the status stays 200, the stream ends in an error of
    the right type in the client's own shape."""
    cases = [
        ("exception", "ThrottlingException", "rate_limit_error", "rate_limit_exceeded"),
        ("error_frame", True, "api_error", "server_error"),
    ]
    async with kiro_rig(tmp_path, circuit_failures=0) as rig:
        for switch, value, anthropic_type, responses_code in cases:
            for fmt in FORMATS:
                setattr(rig.sim.faults, switch, value)
                response = await call(rig.url, fmt, MODEL, True)
                where = f"{switch} {fmt}: {response.text[-300:]}"
                assert response.status_code == 200, where
                partial = {
                    "anthropic": "text_delta",
                    "openai_chat": '"delta": {"content": "',
                    "responses": "response.output_text.delta",
                }[fmt]
                assert partial in response.text, where  # the error follows partial output
                error = error_of(fmt, response)
                if fmt == "anthropic":
                    assert error["type"] == anthropic_type, where
                elif fmt == "responses":
                    assert error["code"] == responses_code, where
                setattr(rig.sim.faults, switch, None if switch == "exception" else False)


async def test_output_cap_is_a_normal_end_in_every_format(tmp_path: Path) -> None:
    """S7: ContentLengthExceededException is max_tokens / length / incomplete, not an error."""
    async with kiro_rig(tmp_path) as rig:
        rig.sim.faults.exception = "ContentLengthExceededException"
        messages = await call(rig.url, "anthropic", MODEL, False)
        assert messages.status_code == 200, messages.text
        assert messages.json()["stop_reason"] == "max_tokens"
        chat = await call(rig.url, "openai_chat", MODEL, False)
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["finish_reason"] == "length"
        responses = await call(rig.url, "responses", MODEL, False)
        assert responses.status_code == 200, responses.text
        assert responses.json()["status"] == "incomplete"
        assert responses.json()["incomplete_details"]["reason"] == "max_output_tokens"
        streamed = await call(rig.url, "anthropic", MODEL, True)
        assert b"event: error" not in streamed.content
        assert b'"stop_reason":"max_tokens"' in streamed.content.replace(b" ", b"")
        assert rig.sim.violations == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_frames_split_at_every_byte_in_every_format(tmp_path: Path, fmt: str) -> None:
    """S10a through the whole daemon: one byte per TCP write gives the ordinary answer."""
    async with kiro_rig(tmp_path) as rig:
        plain = await call(rig.url, fmt, MODEL, False)
        rig.sim.faults.chunk_size = 1
        split = await call(rig.url, fmt, MODEL, False)
        assert plain.status_code == split.status_code == 200, split.text
        assert "Hello from the Kiro simulator" in split.text

        def text_of(response: Any) -> str:
            data = response.json()
            if fmt == "anthropic":
                return str(data["content"][0]["text"])
            if fmt == "openai_chat":
                return str(data["choices"][0]["message"]["content"])
            return str(data["output"][0]["content"][0]["text"])

        assert text_of(split) == text_of(plain)
