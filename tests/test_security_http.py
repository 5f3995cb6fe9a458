"""Who may call, over real sockets: foreign Host, browser Origin, wrong key, oversized body,
deep JSON, each refused with the right status on every route; CORS only for configured
origins; no endpoint ever returns an upstream credential."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from fakes import FakeProvider, make_gateway, serve
from test_faults_copilot import _config, body, copilot_rig

from aiclient_trio.config.types import Config, ServerConfig
from aiclient_trio.errors import InvalidRequest
from aiclient_trio.formats.body import parse_request_body_off_loop
from aiclient_trio.log import MASK
from aiclient_trio.server.app import create_app

KEY = "gw-secret-key-123"
GOOD = {"x-api-key": KEY}
API = [
    ("/v1/messages", "anthropic"),
    ("/v1/chat/completions", "openai_chat"),
    ("/v1/responses", "responses"),
    ("/v1/messages/count_tokens", "anthropic"),
    ("/v1/embeddings", "openai_chat"),
]
GITHUB_TOKEN = "gho_" + "A1b2C3d4" * 4  # what a real one looks like
GETS = ["/v1/models", "/readyz", "/metrics", "/healthz", "/"]


def _body(fmt: str) -> dict[str, Any]:
    if fmt == "openai_chat":
        return {**body(fmt, "fake-model", False), "input": "x"}
    return body(fmt, "fake-model", False)


def _error_type(fmt: str, response: httpx.Response) -> str:
    data = response.json()
    if fmt == "anthropic":
        assert data["type"] == "error"
    return str(data["error"]["type"])


@pytest.fixture
def gateway() -> Any:
    server = ServerConfig(
        max_body_bytes=4096, max_json_depth=16, cors_origins=("http://localhost:5173",)
    )
    provider = FakeProvider("copilot", ("fake-model", "fake-embed"))
    return make_gateway(provider, config=Config(server=server, api_key=KEY))


async def test_each_refusal_has_its_status_on_every_route(gateway: Any) -> None:
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        for path, fmt in API:
            payload = _body(fmt)
            if path == "/v1/embeddings":
                payload["model"] = "fake-embed"  # chat models are refused there
            cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
                ("foreign host", {**GOOD, "host": "evil.example:9090"}, b"", 403, "permission"),
                ("browser origin", {**GOOD, "origin": "https://evil.example"}, b"", 403, "perm"),
                ("no key", {}, b"", 401, "authentication"),
                ("wrong key", {"x-api-key": KEY[:-1]}, b"", 401, "authentication"),
                ("wrong bearer", {"authorization": "Bearer nope"}, b"", 401, "authentication"),
                ("oversized", GOOD, json.dumps({**payload, "pad": "x" * 5000}).encode(), 413, ""),
                ("deep JSON", GOOD, json.dumps({**payload, "m": _deep(40)}).encode(), 400, ""),
                ("not JSON", GOOD, b'{"model": "fake', 400, "invalid_request"),
            ]
            for name, headers, raw, status, kind in cases:
                content = raw or json.dumps(payload).encode()
                response = await client.post(
                    path, content=content, headers={"content-type": "application/json", **headers}
                )
                where = f"{path} {name}: {response.text}"
                assert response.status_code == status, where
                error_type = _error_type(fmt, response)
                assert kind.split("_")[0][:4] in error_type, where
                assert KEY not in response.text and KEY[:-1] not in response.text
                assert "access-control-allow-origin" not in response.headers
            accepted = await client.post(path, json=payload, headers=GOOD)
            assert accepted.status_code == 200, (path, accepted.text)
        for path in GETS:
            refused = await client.get(path, headers={**GOOD, "host": "rebind.example"})
            assert refused.status_code == 403, path


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_cors_only_for_configured_origins(gateway: Any) -> None:
    allowed = "http://localhost:5173"
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        plain = await client.post("/v1/messages", json=_body("anthropic"), headers=GOOD)
        assert not any(h.startswith("access-control-") for h in plain.headers)
        cors = await client.post(
            "/v1/messages", json=_body("anthropic"), headers={**GOOD, "origin": allowed}
        )
        assert cors.status_code == 200
        assert cors.headers["access-control-allow-origin"] == allowed
        assert "origin" in cors.headers["vary"].lower()
        models = await client.get("/v1/models", headers={**GOOD, "origin": allowed})
        assert models.headers["access-control-allow-origin"] == allowed
        preflight_headers = {
            "origin": allowed,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        }
        preflight = await client.options("/v1/messages", headers=preflight_headers)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "x-api-key" in preflight.headers["access-control-allow-headers"]
        foreign = await client.options(
            "/v1/messages", headers={**preflight_headers, "origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert "access-control-allow-origin" not in foreign.headers
        # Never a wildcard, never credentials for an origin not listed.
        assert "*" not in cors.headers["access-control-allow-origin"]


async def test_probes_follow_protect_probes() -> None:
    provider = FakeProvider("copilot")
    open_config = Config(api_key=KEY)
    closed_config = Config(api_key=KEY, server=ServerConfig(protect_probes=True))
    for config, protected in ((open_config, False), (closed_config, True)):
        gateway = make_gateway(provider, config=config)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/healthz")).status_code == 200  # always open
            for probe in ("/readyz", "/metrics"):  # metrics are off here: 404 once let in
                assert ((await client.get(probe)).status_code == 401) is protected
                assert (await client.get(probe, headers=GOOD)).status_code != 401
            assert (await client.get("/v1/models")).status_code == 401


async def test_no_endpoint_returns_an_upstream_credential(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with copilot_rig(tmp_path, _config()) as rig:
        state = rig.sim.state
        secrets = {"gho_test", GITHUB_TOKEN, *state.copilot_tokens}
        assert state.copilot_tokens, "the provider exchanged a token"
        seen: list[str] = []
        async with httpx.AsyncClient(base_url=rig.url) as client:
            for path in [*GETS, "/v1/usage", "/v1/nope"]:
                seen.append((await client.get(path)).text)
            for path, fmt in API:
                seen.append((await client.post(path, json=body(fmt, "gpt-4o", False))).text)
                seen.append((await client.post(path, json=body(fmt, "no-such", True))).text)
            # Upstream refusals that carry the rejected token back are not echoed either.
            state.expire_copilot_tokens()
            echoed = f"bad token {GITHUB_TOKEN} / {next(iter(secrets - {'gho_test'}))}"
            state.faults.queue_error(401, {"error": {"message": echoed}})
            state.faults.queue_error(502, {"error": {"message": echoed}})
            seen.append((await client.post(API[0][0], json=body("anthropic", "gpt-4o", True))).text)
            seen.append(
                (await client.post(API[1][0], json=body("openai_chat", "gpt-4o", False))).text
            )
        assert MASK in seen[-1] and MASK in seen[-2]  # the echoes were masked, not dropped
        secrets |= state.copilot_tokens  # the ones issued by the refresh too
        assert len(secrets) >= 3, seen[-1]
        for text in seen:
            for secret in secrets:
                assert secret not in text, text
            assert "tid=" not in text


async def test_big_bodies_are_parsed_off_the_event_loop() -> None:
    # Nested, but within the limit of objects and arrays a body may hold.
    unit = b"[" * 2 + b'"' + b"x" * 60 + b'"' + b"]" * 2 + b","
    big = b'{"a":[' + unit * (1024 * 1024 // len(unit)) + b"1]}"
    ticks = 0
    parsed: dict[str, Any] = {}

    async def parse() -> None:
        parsed.update(await parse_request_body_off_loop(big, 64))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(parse)
        while not parsed:
            await trio.lowlevel.checkpoint()  # the loop keeps turning while the thread parses
            ticks += 1
    assert ticks > 1 and len(parsed["a"]) > 1000
    # A deep one is refused before any object is built.
    deep = b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"
    with pytest.raises(InvalidRequest, match="nesting"):
        await parse_request_body_off_loop(deep + b" " * len(big), 64)
