"""QA regression: a wrong API key gets a 401 in the route's own format that says what to do,
and never echoes either key."""

from __future__ import annotations

import httpx
import pytest
from fakes import FakeProvider, make_gateway, serve

from aiclient_trio.config.types import Config
from aiclient_trio.server.app import create_app


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
