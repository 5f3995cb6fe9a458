"""`GET /v1/models/{id}` (the SDKs' `models.retrieve`) answers one model, by
qualified id, bare upstream id or alias; unknown ids and unknown routes get honest 404s."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import trio
from copilot_helpers import start_copilot_for_tests
from fakes import FakeProvider, make_gateway, serve
from kiro_helpers import _own as kiro_own
from kiro_helpers import kiro_config

from aiclient_trio.cli.demo import demo_endpoint
from aiclient_trio.config.types import Config
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import serve_kiro_simulator


def _gateway():  # type: ignore[no-untyped-def]
    config = Config(aliases={"fast": ("copilot/gpt-4.1",)})
    return make_gateway(
        FakeProvider("copilot", ("gpt-4.1", "claude-sonnet-4.5")),
        FakeProvider("kiro", ("claude-sonnet-4.5",)),
        config=config,
    )


async def test_models_retrieve_through_both_sdks() -> None:
    async with serve(create_app(_gateway())) as url:
        oa = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        async with oa:
            model = await oa.models.retrieve("kiro/claude-sonnet-4.5")
            assert (model.id, model.owned_by) == ("kiro/claude-sonnet-4.5", "kiro")
            with pytest.raises(openai.NotFoundError) as missing:
                await oa.models.retrieve("copilot/gpt-41")
            assert "Did you mean: copilot/gpt-4.1" in str(missing.value)
        an = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        async with an:
            info = await an.models.retrieve("claude-sonnet-4.5")  # the default provider's
            assert info.id == "copilot/claude-sonnet-4.5"
        async with httpx.AsyncClient(base_url=url) as http:
            alias = (await http.get("/v1/models/fast")).json()
            assert alias["alias_of"] == ["copilot/gpt-4.1"]
            unknown = await http.get("/v1/nothing/here")
            assert unknown.status_code == 404
            error = unknown.json()["error"]
            assert error["message"] == "no such route: GET /nothing/here"
            assert error["code"] == "unknown_route"
            typo = (await http.post("/v1/chat/completion", json={})).json()["error"]
            assert typo["message"].endswith("did you mean /v1/chat/completions?")


async def test_one_rule_lists_only_the_models_that_can_answer(tmp_path: Path) -> None:
    """`GET /v1/models`, `aiclient models` (the daemon's `models` method) and the demo banner
    all list `Provider.listed_models()`: a signed-out provider's models (which would all be
    503s) and models not enabled for the account are left out."""
    async with trio.open_nursery() as nursery:
        copilot, _ = await start_copilot_for_tests(nursery, tmp_path / "copilot")
        signed_out = KiroProvider(
            kiro_config(await nursery.start(serve_kiro_simulator)),
            token_path=tmp_path / "kiro" / "token.json",  # never written: signed out
        )
        await nursery.start(kiro_own, signed_out)
        assert not signed_out.status.value.ready and signed_out.models()  # a fallback list
        assert signed_out.listed_models() == []
        every = {m.id: m for m in copilot.models()}
        assert not every["claude-opus-4.1"].enabled  # the simulator's account policy
        usable = {f"copilot/{m.id}" for m in copilot.listed_models()}
        assert usable == {f"copilot/{i}" for i, m in every.items() if m.enabled}
        gateway = make_gateway(copilot, signed_out)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            listed = {e["id"] for e in (await http.get("/v1/models")).json()["data"]}
        banner = demo_endpoint(url, None, gateway.providers)
        nursery.cancel_scope.cancel()
    assert listed == usable
    assert set(banner.models) | set(banner.embedding_models) == usable
