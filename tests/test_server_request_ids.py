"""Every response carries `x-request-id` (Anthropic routes also
`request-id`), on the hot path, the plain-ASGI off-path routes, errors and streams alike.
"""

from __future__ import annotations

import httpx
from fakes import FakeProvider, make_gateway, serve

from aiclient_trio.server.app import create_app

CHAT = {"model": "copilot/fake-model", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {**CHAT, "max_tokens": 5}
RESPONSES = {"model": "copilot/fake-model", "input": "hi"}

CASES: list[tuple[str, str, dict[str, object] | None, bool]] = [
    ("GET", "/", None, False),
    ("GET", "/healthz", None, False),
    ("GET", "/readyz", None, False),
    ("GET", "/v1/models", None, False),
    ("GET", "/v1/usage", None, False),  # 503: no ledger
    ("GET", "/metrics", None, False),  # 404: no metrics
    ("GET", "/v1/nothing", None, False),
    ("DELETE", "/v1/models", None, False),  # 405
    ("POST", "/v1/chat/completions", CHAT, False),
    ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, False),
    ("POST", "/v1/chat/completions", {"model": 1}, False),  # 400
    ("POST", "/v1/responses", RESPONSES, False),
    ("POST", "/v1/responses", {**RESPONSES, "stream": True}, False),
    ("POST", "/v1/messages", MESSAGES, True),
    ("POST", "/v1/messages", {**MESSAGES, "stream": True}, True),
    ("POST", "/v1/messages", {"model": "copilot/nope", "max_tokens": 5, "messages": []}, True),
    ("POST", "/v1/messages/count_tokens", CHAT, True),
]


async def test_every_response_has_a_request_id() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        missing = []
        statuses = set()
        for method, path, body, anthropic in CASES:
            reply = await client.request(method, path, json=body)
            statuses.add(reply.status_code)
            rid = reply.headers.get("x-request-id")
            if not rid or (anthropic and reply.headers.get("request-id") != rid):
                missing.append((method, path, reply.status_code, dict(reply.headers)))
            # a well-formed client id is kept, everywhere
            again = await client.request(method, path, json=body, headers={"x-request-id": "c-1"})
            if again.headers.get("x-request-id") != "c-1":
                missing.append((method, path, "client id not kept", again.status_code))
        assert missing == []
        assert {200, 400, 404, 405, 503} <= statuses


async def test_responses_endpoint_answers_in_anthropic_format_when_asked() -> None:
    """Issue 3: the output-format override applies to every endpoint, /v1/responses too."""
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        header = {"x-output-format": "anthropic"}
        plain = await client.post("/v1/responses", json=RESPONSES, headers=header)
        assert plain.json()["type"] == "message"
        assert plain.json()["content"] == [{"type": "text", "text": "Hello from fake"}]
        streamed = await client.post(
            "/v1/responses", json={**RESPONSES, "stream": True}, headers=header
        )
        names = [line[7:] for line in streamed.text.splitlines() if line.startswith("event: ")]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        assert "content_block_delta" in names
