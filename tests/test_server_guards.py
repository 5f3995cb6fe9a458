"""Pure guard functions: request ids, Host/Origin allow-lists, API key, JSON limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fakes import FakeProvider, Records, load_json, make_gateway, serve

from aiclient_trio.config.types import Config, ServerConfig
from aiclient_trio.errors import AuthenticationError, PermissionDenied
from aiclient_trio.server import guards
from aiclient_trio.server.app import create_app
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


# --------------------------------------------------------------------------- over sockets


async def test_api_key_on_hot_routes_in_each_route_format() -> None:
    gateway = make_gateway(FakeProvider("copilot"), config=Config(api_key="k-123"))
    records = Records(gateway)
    body = load_json("messages_request.json", stream=False)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        missing = await client.post("/v1/messages", json=body)
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        assert missing.headers["request-id"] == missing.json()["request_id"]
        wrong = await client.post(
            "/v1/chat/completions",
            json=load_json("chat_request.json"),
            headers={"authorization": "Bearer k-12"},
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        assert "k-12" not in wrong.text
        bearer = await client.post(
            "/v1/messages", json=body, headers={"authorization": "Bearer k-123"}
        )
        assert bearer.status_code == 200
        x_key = await client.post("/v1/messages", json=body, headers={"x-api-key": "k-123"})
        assert x_key.status_code == 200
        # Probes stay open (protect_probes is off), the model list does not.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1/models")).status_code == 401
        assert (await client.get("/v1/models", headers={"x-api-key": "k-123"})).status_code == 200
    recs = await records.wait(4)
    assert [r.outcome for r in recs] == ["client_error", "client_error", "ok", "ok"]
    assert recs[0].error_kind == "authentication"


async def test_host_origin_and_size_limits_on_hot_routes() -> None:
    config = Config(server=ServerConfig(max_body_bytes=2000, max_json_depth=8))
    provider = FakeProvider("copilot")
    gateway = make_gateway(provider, config=config)
    body = load_json("messages_request.json", stream=False)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        rebinding = await client.post(
            "/v1/messages", json=body, headers={"host": "attacker.example"}
        )
        assert rebinding.status_code == 403
        assert rebinding.json()["error"]["type"] == "permission_error"
        browser = await client.post(
            "/v1/chat/completions",
            json=load_json("chat_request.json"),
            headers={"origin": "https://x.example"},
        )
        assert browser.status_code == 403
        assert browser.json()["error"]["type"] == "permission_error"

        big = dict(body, system="x" * 5000)
        declared = await client.post("/v1/messages", json=big)
        assert declared.status_code == 413
        assert declared.json()["error"]["type"] == "request_too_large"

        async def chunked() -> AsyncIterator[bytes]:
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 500):
                yield payload[i : i + 500]

        streamed = await client.post(
            "/v1/messages", content=chunked(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        # the unread rest of the body makes the connection unusable: the client is told so
        assert streamed.headers["connection"] == "close"

        deep = dict(body, metadata={"a": [[[[[[[[[[1]]]]]]]]]]})
        too_deep = await client.post("/v1/messages", json=deep)
        assert too_deep.status_code == 400
        assert "nesting" in too_deep.json()["error"]["message"]

        broken = await client.post(
            "/v1/chat/completions",
            content=b'{"model": ',
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["type"] == "invalid_request_error"

        invalid = await client.post(
            "/v1/messages", json={"model": "fake-model", "messages": "nope"}
        )
        assert invalid.status_code == 400
        assert invalid.json()["type"] == "error"
    assert provider.calls == []


# A wrong API key gets a 401 in the route's own format that says what to do,
# and never echoes either key.


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
async def test_wrong_key_says_how_to_get_a_working_setup(path: str) -> None:
    gateway = make_gateway(FakeProvider("copilot"), config=Config(api_key="right-key-1234"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
        reply = await http.post(
            path, json={"model": "fake-model"}, headers={"x-api-key": "wrong-key-5678"}
        )
    assert reply.status_code == 401
    body = reply.json()
    error = body["error"]
    if path == "/v1/messages":
        assert (body["type"], error["type"]) == ("error", "authentication_error")
        assert reply.headers["request-id"] == reply.headers["x-request-id"]
    else:
        assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("invalid API key")
    assert "aiclient env <client> --show-key" in error["message"]
    assert "right-key" not in reply.text and "wrong-key" not in reply.text
