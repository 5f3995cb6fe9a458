"""Issue 14 items 1-2: whatever text a client sends (lone surrogates included) in any field
it controls, the answer is a 2xx or a 4xx naming the field, never a 500, and the ledger,
the log line and the metrics take the request in their stride; every parser of untrusted
input (bodies, control lines, token files, config, upstream answers) refuses cleanly."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import hypothesis.strategies as st
import pytest
import trio
from fakes import Records, make_gateway, serve
from hypothesis import HealthCheck, example, given, settings
from kiro_helpers import start_kiro_for_tests

from aiclient_trio import untrusted
from aiclient_trio.config.load import ConfigError, read_file_layer
from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.daemon.control import ControlClient, ControlServer
from aiclient_trio.daemon.main import keep_running
from aiclient_trio.errors import InvalidRequest
from aiclient_trio.formats.body import parse_request_body
from aiclient_trio.ledger import Ledger, UsageQuery
from aiclient_trio.log import log_request
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.record import RequestRecord
from aiclient_trio.server.app import create_app

MODEL = "kiro/claude-sonnet-4.5"
# Any code point, surrogates (U+D800-U+DFFF) included; half the strings hold one for sure
# (they are rare among all code points).
_ANY_CHAR = st.characters(exclude_categories=())
_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
ANY_TEXT = st.text(_ANY_CHAR, max_size=12) | st.tuples(
    st.text(_ANY_CHAR, max_size=6), _SURROGATES, st.text(_ANY_CHAR, max_size=6)
).map("".join)
FIELDS = ["model", "content", "system", "tool_name", "tool_description", "stop"]


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# -- the body parser on its own ----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(ANY_TEXT, json_values, max_size=5))
def test_a_parsed_body_is_encodable_or_refused_naming_the_field(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii: surrogates travel as \\udXXX escapes
    holds_surrogate = _has_surrogate(json.dumps(body, ensure_ascii=False))
    try:
        parsed = parse_request_body(raw, 64)
    except InvalidRequest as error:
        assert holds_surrogate, error.message
        assert error.param is not None
        assert error.param in error.message
        error.message.encode()  # the refusal itself can be sent
        return
    assert not holds_surrogate
    json.dumps(parsed, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"model":', "truncated"),
        (b'{"model": "x", "messages": [', "truncated"),
        (b'{"temperature": NaN}', "NaN"),
        (b'{"temperature": Infinity}', "Infinity"),
        (b'{"temperature": -Infinity}', "-Infinity"),
        (b'{"model": "x"} trailing', "not valid JSON"),
        (b'{"model": "\xff"}', "UTF-8"),
        (b"[" * 100_000, "nesting exceeds"),
        (b"[]", "JSON object"),
    ],
)
def test_bad_json_bodies_get_a_message_that_says_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says) as caught:
        parse_request_body(raw, 64)
    if says != "nesting exceeds":
        assert "nesting" not in caught.value.message


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_untrusted_loads_raises_nothing_but_value_error(raw: bytes) -> None:
    try:
        value = untrusted.loads(raw)
    except ValueError:
        return
    assert "NaN" not in json.dumps(value) and "Infinity" not in json.dumps(value)


def test_untrusted_loads_refuses_deep_nesting_without_recursion_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        untrusted.loads(b"[" * 200_000 + b"]" * 200_000)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, st.integers(min_value=1, max_value=50))
@example('tid=0"', 6)  # masking lengthens the text past its limit
def test_client_text_is_encodable_and_capped(text: str, limit: int) -> None:
    shown = untrusted.client_text(text * 40, limit)
    assert shown is not None
    shown.encode()
    assert len(shown) <= limit + len("...(+999999 chars)")


@pytest.mark.parametrize("at", [0, 30, 59])
def test_a_secret_across_the_cap_is_masked_not_cut_short(at: int) -> None:
    key = "sk-ant-api03-" + "Ab1_" * 30
    text = "x " * at + key + " tail"
    shown = untrusted.client_text(text, 60)
    assert shown is not None
    assert "Ab1_" not in shown and "sk-ant-api03" not in shown
    assert len(shown) <= 60 + len("...(+999 chars)")


# -- through the real HTTP path: SDKs against the gateway and the Kiro simulator ---------------


def _request_with(field: str, text: str) -> tuple[str, dict[str, Any], dict[str, bytes]]:
    """(path, body, headers) of one request with `text` in `field`."""
    headers: dict[str, bytes] = {}
    messages: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 32,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
    }
    chat: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    if field == "model":
        return "/v1/messages", {**messages, "model": f"kiro/{text}"}, headers
    if field == "content":
        return "/v1/messages", {**messages, "messages": [{"role": "user", "content": text}]}, {}
    if field == "system":
        return "/v1/messages", {**messages, "system": text}, headers
    if field in ("tool_name", "tool_description"):
        tool = {"name": "get_x", "description": "x", "input_schema": {"type": "object"}}
        tool["name" if field == "tool_name" else "description"] = text
        return "/v1/messages", {**messages, "tools": [tool]}, headers
    if field == "stop":
        return "/v1/chat/completions", {**chat, "stop": [text or "x"]}, headers
    if field == "instructions":
        return "/v1/responses", {"model": MODEL, "input": "hi", "instructions": text}, headers
    if field == "tool_result":
        turns = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": text},
        ]
        return "/v1/chat/completions", {**chat, "messages": turns, "tools": [_TOOL]}, headers
    # Header fields: the text's UTF-8 bytes (surrogates too), minus what HTTP forbids.
    value = bytes(b for b in text.encode("utf-8", "surrogatepass") if b >= 0x20 and b != 0x7F)
    return "/v1/messages", messages, {field: value.strip() or b"x"}


_TOOL = {"type": "function", "function": {"name": "get_x", "parameters": {"type": "object"}}}
_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_x", "arguments": "{}"}}
HEADER_FIELDS = ["x-request-id", "anthropic-beta", "user-agent", "x-provider", "anthropic-version"]
FIELDS += ["instructions", "tool_result", *HEADER_FIELDS]


async def test_any_text_in_any_client_field_is_a_2xx_or_a_4xx_and_the_daemon_keeps_going(
    tmp_path: Path,
) -> None:
    config = Config(upstream=UpstreamConfig(retries=0), default_provider="kiro")
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=config)
        ledger = Ledger(tmp_path / "usage.db", batch_delay=0)
        metrics = GatewayMetrics()
        gateway.observers += [ledger.record, metrics.observe, log_request]
        records = Records(gateway)
        await nursery.start(ledger.run)
        async with serve(create_app(gateway)) as url:
            seen: list[tuple[str, str, int, str]] = []

            # What a Node client (Claude Code) sends: JSON.stringify writes a lone surrogate
            # as a \\udXXX escape (the Python SDKs cannot encode one at all).
            http = httpx.Client(base_url=url, timeout=30)

            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.sampled_from(FIELDS), ANY_TEXT)
            def property_(field: str, text: str) -> None:
                path, body, headers = _request_with(field, text)
                response = http.post(
                    path,
                    content=json.dumps(body).encode(),
                    headers={"content-type": "application/json", **headers},
                )
                status, body = response.status_code, response.text
                seen.append((field, text, status, body))
                assert status < 500, (field, text, body)
                if _has_surrogate(text) and field not in HEADER_FIELDS:
                    assert status == 400, (field, text, body)
                    assert "surrogate" in body, body

            try:
                await trio.to_thread.run_sync(property_)
            finally:
                http.close()
            assert any(_has_surrogate(text) for _f, text, _s, _b in seen), len(seen)
            await records.wait(len(seen))
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz")).status_code == 200
                # The model name with a surrogate came back as 400 naming the field.
                refused = await http.post(
                    "/v1/messages",
                    content=b'{"model":"kiro/\\ud800","max_tokens":5,"messages":[]}',
                    headers={"content-type": "application/json"},
                )
                assert refused.status_code == 400
                assert refused.json()["error"]["message"].startswith("model ")
        await ledger.flush()
        summary = await ledger.summary(UsageQuery())
        assert summary["totals"]["requests"] == len(seen) + 1
        metrics.render().encode()
        nursery.cancel_scope.cancel()
    assert sim.violations == []


# -- background tasks and the ledger -------------------------------------------------------------


def _record(request_id: str, **changes: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "endpoint": "/v1/messages",
        "method": "POST",
        "http_status": 200,
        "outcome": "ok",
        "started_at": 1.0,
        "duration": 0.1,
    }
    return RequestRecord(**{**fields, **changes})


async def test_a_refused_row_is_dropped_alone_and_the_rest_of_the_batch_lands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aiclient_trio import ir

    ledger = Ledger(tmp_path / "usage.db", batch_delay=0)
    await trio.to_thread.run_sync(ledger._open_quietly)
    ledger.record(_record("req_a", client_model="kiro/\ud800" + "x" * 5000))
    # An upstream that reports 2**70 tokens: more than SQLite's INTEGER holds.
    ledger.record(_record("req_b", usage=ir.Usage(input_tokens=2**70)))
    ledger.record(_record("req_c"))
    with caplog.at_level(logging.WARNING, logger="aiclient.ledger"):
        await ledger.flush()
    assert ledger.healthy and not ledger._pending
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        rows = conn.execute("SELECT request_id, client_model FROM requests").fetchall()
    assert [r[0] for r in rows] == ["req_a", "req_c"]
    assert len(rows[0][1]) < 300 and "\ufffd" in rows[0][1]
    assert "req_b" in caplog.text and "dropped" in caplog.text


async def test_a_failing_background_task_is_logged_and_restarted_not_fatal(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []
    done = trio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        done.set()

    with caplog.at_level(logging.ERROR, logger="aiclient.daemon"):
        await keep_running("usage ledger", flaky)
    assert done.is_set() and len(runs) == 3
    assert caplog.text.count("usage ledger failed") == 2


async def test_an_observer_that_raises_does_not_stop_the_others() -> None:
    gateway = make_gateway()
    seen: list[str | None] = []

    def broken(rec: RequestRecord) -> None:
        raise RuntimeError("observer bug")

    gateway.observers += [broken, lambda rec: seen.append(rec.client_model)]
    gateway.record(_record("req_x", client_model="m\udfff" + "y" * 10_000))
    assert len(seen) == 1 and seen[0] is not None
    seen[0].encode()
    assert len(seen[0]) < 300


# -- other untrusted parsers ------------------------------------------------------------------


async def test_the_control_socket_answers_garbage_and_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def status(params: Any) -> Any:
        return {"ok": True}

    server = ControlServer(path, {"status": status})
    lines = [
        b"[" * 100_000 + b"\n",  # RecursionError inside json
        b'{"id": 1, "method": "status", "params": {"x": NaN}}\n',
        b'{"id": 1, "method":\n',  # truncated
        b"\xff\xfe\n",
        b'{"id": 1, "method": "st\\ud800atus"}\n',
    ]
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        for line in lines:
            stream = await trio.open_unix_socket(str(path))
            async with stream:
                await stream.send_all(line)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = await stream.receive_some()
                    assert chunk, line[:40]
                    reply += chunk
            error = json.loads(reply)["error"]
            assert error["code"] in ("parse_error", "unknown_method"), error
        result = await trio.to_thread.run_sync(ControlClient(path).call, "status")
        assert result == {"ok": True}
        nursery.cancel_scope.cancel()


def test_a_config_file_nested_too_deeply_or_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        read_file_layer(path)
    path.write_bytes(b'server.host = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        read_file_layer(path)


def test_token_files_that_are_garbage_read_as_missing(tmp_path: Path) -> None:
    from aiclient_trio.providers.copilot.auth import credential_path, load_credential
    from aiclient_trio.providers.kiro.credentials import TokenStore

    for garbage in (b"[" * 100_000, b'{"github_token": NaN}', b"\xff", b'{"a":'):
        credential_path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        credential_path(tmp_path).write_bytes(garbage)
        assert load_credential(tmp_path) is None
        (tmp_path / "kiro.json").write_bytes(garbage)
        assert TokenStore(tmp_path / "kiro.json").load() is None
