"""Pure guard functions: request ids, Host/Origin allow-lists, API key, JSON limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiclient_trio.config_types import Config, ServerConfig
from aiclient_trio.errors import AuthenticationError, InvalidRequest, PermissionDenied
from aiclient_trio.server import guards
from aiclient_trio.server.paths import canonical_path


def _scope(**headers: str) -> dict[str, Any]:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def test_canonical_paths() -> None:
    assert canonical_path("/v1/messages") == "/messages"
    assert canonical_path("/messages") == "/messages"
    assert canonical_path("//v1//chat//completions/") == "/chat/completions"
    assert canonical_path("/v1/messages?beta=true") == "/messages"
    assert canonical_path("/v1") == "/"
    assert canonical_path("/") == "/"
    assert canonical_path("/v1x/models") == "/v1x/models"


def test_request_id_kept_only_when_well_formed() -> None:
    assert guards.request_id_for(_scope(x_request_id="a.b-c_D9")) == "a.b-c_D9"
    for bad in ("", "has space", "x" * 129, "semi;colon"):
        generated = guards.request_id_for(_scope(x_request_id=bad))
        assert generated.startswith("req_") and len(generated) == 28
    assert guards.request_id_for(_scope()) != guards.request_id_for(_scope())


def test_host_allow_list() -> None:
    config = Config(server=ServerConfig(host="10.0.0.5", allowed_hosts=("Gw.Example",)))
    for ok in (
        "localhost",
        "localhost:9090",
        "127.0.0.1:1",
        "[::1]:9090",
        "[::1]",
        "10.0.0.5:9090",
        "gw.example",
        "GW.EXAMPLE:443",
    ):
        guards.check_host(_scope(host=ok), config)
    for bad in ("evil.example", "localhost.evil.example", "127.0.0.2", "[::2]:9090"):
        with pytest.raises(PermissionDenied):
            guards.check_host(_scope(host=bad), config)


def test_origin_refused_unless_configured() -> None:
    assert guards.check_origin(_scope(), Config()) is None
    with pytest.raises(PermissionDenied):
        guards.check_origin(_scope(origin="http://localhost:3000"), Config())
    config = Config(server=ServerConfig(cors_origins=("http://localhost:3000",)))
    assert (
        guards.check_origin(_scope(origin="http://localhost:3000"), config)
        == "http://localhost:3000"
    )


def test_api_key_bearer_or_x_api_key() -> None:
    config = Config(api_key="s3cret-key")
    guards.check_api_key(_scope(authorization="Bearer s3cret-key"), config)
    guards.check_api_key(_scope(authorization="bearer s3cret-key"), config)
    guards.check_api_key(_scope(x_api_key="s3cret-key"), config)
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"x_api_key": "s3cret"},
        {"authorization": "Basic s3cret-key"},
    ):
        with pytest.raises(AuthenticationError) as info:
            guards.check_api_key(_scope(**headers), config)
        assert "s3cret" not in info.value.message
    guards.check_api_key(_scope(), Config())  # no key configured: open


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def test_json_depth_limit() -> None:
    assert not guards.json_depth_exceeds(_nested(64), 64)
    assert guards.json_depth_exceeds(_nested(65), 64)
    # Brackets inside strings (with escaped quotes) do not count.
    tricky = json.dumps({"a": '[[[[[[\\"[[[[', "b": [{"c": "]]]]"}]}).encode()
    assert not guards.json_depth_exceeds(tricky, 3)
    assert guards.json_depth_exceeds(tricky, 2)


def test_parse_json_body_errors() -> None:
    assert guards.parse_json_body(b'{"a": [1, {"b": 2}]}', 64) == {"a": [1, {"b": 2}]}
    for body in (b"{nope", b"[1, 2]", b'"text"', b""):
        with pytest.raises(InvalidRequest):
            guards.parse_json_body(body, 64)
    with pytest.raises(InvalidRequest, match="nesting"):
        guards.parse_json_body(b'{"a":' + _nested(100) + b"}", 64)
    with pytest.raises(InvalidRequest, match="nesting"):
        guards.parse_json_body(b'{"a":' + _nested(100_000) + b"}", 64)
