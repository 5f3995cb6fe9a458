"""`GET /v1/models/{id}` (the SDKs' `models.retrieve`) answers one model, by
qualified id, bare upstream id or alias; unknown ids and unknown routes get honest 404s."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider, make_gateway, serve

from aiclient_trio.config.types import Config
from aiclient_trio.server.app import create_app


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
