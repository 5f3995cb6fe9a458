"""A signed-out or disabled provider answers 503 in each inbound format with
the fix command and `x-should-retry: false` (so SDKs and Claude Code do not retry a sign-in
problem for minutes); the disabled hint names the real command."""

from __future__ import annotations

import anthropic
import httpx
import pytest
import trio
from fakes import FakeProvider, Records, make_gateway, serve

from aiclient_trio.server.app import create_app

BODIES = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/messages": {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"input": "hi"},
}


def _message(path: str, body: dict[str, object]) -> str:
    error = body["error"]
    assert isinstance(error, dict)
    if path == "/v1/messages":
        assert body["type"] == "error"
    return str(error["message"])


@pytest.mark.parametrize("path", sorted(BODIES))
async def test_signed_out_and_disabled_providers_say_what_to_run(path: str) -> None:
    app = create_app(make_gateway(FakeProvider("copilot", ("gpt-4.1",), ready=False)))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        for model, command in (
            ("copilot/gpt-4.1", "aiclient auth copilot"),
            ("kiro/claude-sonnet-4.5", "aiclient provider enable kiro"),
        ):
            for stream in (False, True):
                reply = await http.post(
                    path, json={"model": model, "stream": stream, **BODIES[path]}
                )
                assert reply.status_code == 503
                assert reply.headers["x-should-retry"] == "false"
                assert reply.headers["x-request-id"]
                message = _message(path, reply.json())
                assert command in message, message
                assert "[kiro]" not in message


async def test_anthropic_sdk_does_not_retry_a_signed_out_provider() -> None:
    gateway = make_gateway(FakeProvider("copilot", ("claude-sonnet-4.5",), ready=False))
    records = Records(gateway)
    async with serve(create_app(gateway)) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=2)
        async with client:
            with pytest.raises(anthropic.APIStatusError) as caught:
                await client.messages.create(
                    model="claude-sonnet-4.5",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "hi"}],
                )
        assert caught.value.status_code == 503
        assert "aiclient auth copilot" in str(caught.value)
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/v1/models/nothing-here")).status_code == 404
        with trio.fail_after(5):
            recs = await records.wait(1)
    assert [r.endpoint for r in recs].count("/v1/messages") == 1
