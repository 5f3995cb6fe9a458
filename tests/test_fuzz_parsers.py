"""Hypothesis fuzzing of every request parser and of the API routes behind them: whatever a
client sends, the answer is a 4xx (`InvalidRequest` and friends), never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import trio
from fakes import FakeProvider, make_gateway
from hypothesis import HealthCheck, given, settings

from aiclient_trio import ir
from aiclient_trio.errors import GatewayError, InvalidRequest
from aiclient_trio.formats import anthropic, openai_chat, responses, tokens
from aiclient_trio.server.app import create_app

DATA = Path(__file__).parent / "data"
MODULES = {"anthropic": anthropic, "openai_chat": openai_chat, "responses": responses}
# Field names the parsers look at, so mutations hit real branches, not only unknown keys.
KEYS = [
    "model", "messages", "system", "content", "role", "type", "text", "tools", "tool_choice",
    "input", "instructions", "stream", "max_tokens", "max_output_tokens", "thinking",
    "reasoning", "tool_use_id", "tool_call_id", "tool_calls", "function", "arguments",
    "name", "id", "image_url", "url", "source", "data", "media_type", "call_id", "output",
    "input_schema", "parameters", "temperature", "stop", "stop_sequences", "metadata",
    "budget_tokens", "effort", "signature", "thinking", "cache_control", "include",
    "stream_options", "include_usage", "response_format", "n", "top_p", "user", "summary",
]  # fmt: skip
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seeds(fmt: str) -> list[dict[str, Any]]:
    seeds: list[dict[str, Any]] = []
    for path in sorted((DATA / fmt / "parse_request").glob("*.json")):
        case = json.loads(path.read_text())
        if isinstance(case, dict) and isinstance(case.get("body"), dict):
            seeds.append(case["body"])
    name = {"anthropic": "messages", "openai_chat": "chat", "responses": "responses"}[fmt]
    seeds.append(json.loads((DATA / "server" / f"{name}_request.json").read_text()))
    assert len(seeds) >= 3
    return seeds


SEEDS = {fmt: _seeds(fmt) for fmt in MODULES}

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["user", "assistant", "system", "tool", "text", "image", "tool_use",
                     "function", "auto", "none", "required", "input_text", "message",
                     "function_call", "function_call_output", "data:image/png;base64,AAAA",
                     "enabled", "thinking", "high"]),
)  # fmt: skip
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


def _mutate(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """Replace, drop or add somewhere inside `value` (a valid seed), or leave it alone."""
    if isinstance(value, dict) and value and depth < 8:
        choice = data.draw(st.integers(0, 4))
        key = data.draw(st.sampled_from(sorted(value)))
        out = dict(value)
        if choice <= 1:
            out[key] = _mutate(data, value[key], depth + 1)
        elif choice == 2:
            del out[key]
        elif choice == 3:
            out[data.draw(st.sampled_from(KEYS))] = data.draw(json_values)
        else:
            out[key] = data.draw(json_values)
        return out
    if isinstance(value, list) and value and depth < 8:
        index = data.draw(st.integers(0, len(value) - 1))
        out_list = list(value)
        action = data.draw(st.integers(0, 3))
        if action <= 1:
            out_list[index] = _mutate(data, value[index], depth + 1)
        elif action == 2:
            del out_list[index]
        else:
            out_list.insert(index, data.draw(json_values))
        return out_list
    return data.draw(json_values)


def _exercise(fmt: str, body: Any) -> None:
    """Parse; when it parses, what the gateway does next (estimate, render to every upstream
    format) may refuse with a GatewayError but never crash."""
    try:
        request = MODULES[fmt].parse_request(body)
    except InvalidRequest:
        return
    assert isinstance(request, ir.Request)
    tokens.estimate_request_tokens(request)
    for target in MODULES.values():
        try:
            json.dumps(target.render_request(request.with_model("m")))
        except GatewayError as error:
            assert error.status < 500, error


@pytest.mark.parametrize("fmt", sorted(MODULES))
@SETTINGS
@given(data=st.data())
def test_mutated_valid_requests_parse_or_are_invalid(fmt: str, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS[fmt]))
    body = seed
    for _ in range(data.draw(st.integers(1, 3))):
        body = _mutate(data, body)
    _exercise(fmt, body)


@pytest.mark.parametrize("fmt", sorted(MODULES))
@SETTINGS
@given(body=json_values)
def test_arbitrary_json_is_invalid_not_a_crash(fmt: str, body: Any) -> None:
    _exercise(fmt, body)


# --------------------------------------------------------------------------- the routes


async def _post(app: Any, path: str, body: bytes) -> int:
    """One request straight into the ASGI app (no socket: hundreds per second), with the
    scope keys hypercorn always sends."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http",
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }
    sent = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []
    gone = trio.Event()

    async def receive() -> dict[str, Any]:
        if sent:
            return sent.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif not message.get("more_body", False):
            gone.set()

    await app(scope, receive, send)
    return status[0]


ROUTES = ["/v1/messages", "/v1/chat/completions", "/v1/responses", "/v1/messages/count_tokens",
          "/v1/embeddings"]  # fmt: skip
APP = create_app(make_gateway(FakeProvider("copilot", ("fake-model", "fake-embed"))))


@SETTINGS
@given(
    path=st.sampled_from(ROUTES),
    body=st.one_of(
        st.binary(max_size=64),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([s for seeds in SEEDS.values() for s in seeds]).map(
            lambda s: json.dumps({**s, "model": "fake-model"}).encode()
        ),
    ),
)
def test_routes_never_answer_500(path: str, body: bytes) -> None:
    status = trio.run(_post, APP, path, body)
    assert status < 500, (path, body)
