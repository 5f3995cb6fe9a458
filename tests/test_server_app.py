"""The ASGI entry point over real sockets: probes, 404, HEAD /, paths and guards."""

from __future__ import annotations

import httpx
from fakes import FakeProvider, make_gateway, serve

from aiclient_trio import __version__
from aiclient_trio.config.types import Config, ServerConfig
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.server.app import create_app


async def test_healthz_readyz_and_unknown_route() -> None:
    copilot = FakeProvider("copilot")
    kiro = FakeProvider("kiro", ready=False)
    gateway = make_gateway(copilot, kiro)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["version"] == __version__

        ready = await client.get("/readyz")
        assert ready.status_code == 200
        providers = ready.json()["providers"]
        assert providers["copilot"]["state"] == "ready"
        assert providers["kiro"] == {
            "state": "unauthenticated",
            "reason": "signed out",
            "fix": "aiclient auth kiro",
        }

        copilot.set_status(ProviderState.ERROR, "token refresh failed")
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "not_ready"

        missing = await client.get("/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert missing.headers["x-request-id"].startswith("req_")


async def test_root_answers_get_and_head_for_preflight() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        head = await client.head("/")
        assert head.status_code == 200
        get = await client.get("/")
        assert get.status_code == 200
        assert get.json()["status"] == "ok"


async def test_path_variants_and_request_id_echo() -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        for path in ("/v1/models", "/models", "//v1//models/", "/v1/models?limit=1000"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.json()["data"][0]["id"] == "copilot/fake-model"
        echoed = await client.get("/healthz", headers={"x-request-id": "abc.DEF-12_3"})
        assert echoed.headers["x-request-id"] == "abc.DEF-12_3"
        wrong_method = await client.get("/v1/messages?beta=true")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "POST"
        assert wrong_method.json()["type"] == "error"
        replaced = await client.get("/healthz", headers={"x-request-id": "bad id!"})
        assert replaced.headers["x-request-id"].startswith("req_")


async def test_host_and_origin_guards_on_probe_routes() -> None:
    config = Config(
        server=ServerConfig(allowed_hosts=("gw.internal",), cors_origins=("https://ok.example",))
    )
    gateway = make_gateway(FakeProvider("copilot"), config=config)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz", headers={"host": "localhost:9090"})).status_code == 200
        assert (await client.get("/healthz", headers={"host": "[::1]:1"})).status_code == 200
        assert (await client.get("/healthz", headers={"host": "gw.internal:80"})).status_code == 200
        evil = await client.get("/healthz", headers={"host": "evil.example"})
        assert evil.status_code == 403
        assert "evil.example" in evil.json()["error"]["message"]

        browser = await client.get("/v1/models", headers={"origin": "https://evil.example"})
        assert browser.status_code == 403
        allowed = await client.get("/v1/models", headers={"origin": "https://ok.example"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
        preflight = await client.options(
            "/v1/messages",
            headers={"origin": "https://ok.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        refused = await client.options("/v1/messages", headers={"origin": "https://evil.example"})
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers


async def test_model_list_reads_as_openai_and_anthropic_lists() -> None:
    config = Config(aliases={"claude-sonnet-4-5": ("kiro/claude-k", "copilot/gpt-x")})
    gateway = make_gateway(
        FakeProvider("copilot", ("gpt-x",)), FakeProvider("kiro", ("claude-k",)), config=config
    )
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list" and listing["has_more"] is False
    ids = [m["id"] for m in listing["data"]]
    assert ids == ["copilot/gpt-x", "kiro/claude-k", "claude-sonnet-4-5"]
    assert (listing["first_id"], listing["last_id"]) == (ids[0], ids[-1])
    kiro = listing["data"][1]
    for key in ("object", "type", "created", "created_at", "owned_by", "display_name"):
        assert kiro[key], key
    assert kiro["type"] == "model" and kiro["object"] == "model" and kiro["owned_by"] == "kiro"
    assert kiro["max_input_tokens"] == 128_000 and kiro["max_tokens"] == 16_000
    assert kiro["upstream_id"] == "claude-k" and kiro["supports_tools"] is True
    assert kiro["created_at"].endswith("Z")
    alias = listing["data"][2]
    assert alias["alias_of"] == ["kiro/claude-k", "copilot/gpt-x"]
    assert alias["type"] == "model" and alias["owned_by"] == "alias"
    assert alias["upstream_id"] == "claude-k" and alias["max_input_tokens"] == 128_000


async def test_probes_when_draining_and_when_protected() -> None:
    config = Config(api_key="probe-key", server=ServerConfig(protect_probes=True))
    gateway = make_gateway(FakeProvider("copilot"), config=config)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).status_code == 200  # never needs the key
        assert (await client.get("/readyz")).status_code == 401
        key = {"authorization": "Bearer probe-key"}
        assert (await client.get("/readyz", headers=key)).status_code == 200
        gateway.draining.set()
        draining = await client.get("/readyz", headers=key)
        assert draining.status_code == 503
        assert draining.json()["draining"] is True
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["draining"] is True
