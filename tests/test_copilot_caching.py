"""Prompt caching and conversation state with Copilot (2026).

`prompt_cache_key` reaches Copilot on every route that can carry it; Anthropic
`cache_control` breakpoints become `copilot_cache_control` (at most 4) when a request is
translated to chat/completions, and the simulator's cache then reports cache reads;
`previous_response_id` is relayed with `store: false` to models served on /responses, and a
forgotten one is a clear error. Clients are the official SDKs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import trio
from copilot_helpers import start_copilot_for_tests
from fakes import Records, make_gateway, serve

from aiclient_trio.server.app import create_app


def _bodies(sim: Any, path: str) -> list[dict[str, Any]]:
    return [r.body for r in sim.state.recorded("copilot", path)]


@pytest.mark.parametrize(
    ("model", "endpoint", "path"),
    [
        ("gpt-5-codex", "responses", "/responses"),  # passthrough
        ("gpt-5-codex", "chat", "/responses"),  # chat translated to responses
        ("gpt-4o", "responses", "/chat/completions"),  # responses translated to chat
    ],
)
async def test_prompt_cache_key_reaches_copilot(
    tmp_path: Path, model: str, endpoint: str, path: str
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:

            def call() -> None:
                with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as oai:
                    if endpoint == "responses":
                        oai.responses.create(
                            model=f"copilot/{model}", input="hi", prompt_cache_key="conv-7:codex"
                        )
                    else:
                        oai.chat.completions.create(
                            model=f"copilot/{model}",
                            messages=[{"role": "user", "content": "hi"}],
                            prompt_cache_key="conv-7:codex",
                        )

            await trio.to_thread.run_sync(call)
        nursery.cancel_scope.cancel()
    (body,) = _bodies(sim, path)
    assert body["prompt_cache_key"] == "conv-7:codex"


async def test_cache_control_becomes_copilot_cache_control_on_translated_chat(
    tmp_path: Path,
) -> None:
    marked = {"type": "ephemeral"}
    system = [{"type": "text", "text": "You are terse. " * 40, "cache_control": marked}]
    turns: list[dict[str, Any]] = []
    for n in range(5):  # five breakpoints in the history: only the last four are kept
        turns.append(
            {
                "role": "user",
                "content": [{"type": "text", "text": f"question {n}", "cache_control": marked}],
            }
        )
        turns.append({"role": "assistant", "content": f"answer {n}"})
    turns.append({"role": "user", "content": "and now?"})
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
            async with client:
                for _ in range(2):
                    await client.messages.create(
                        model="copilot/gpt-4o",
                        max_tokens=64,
                        system=system,  # type: ignore[arg-type]
                        messages=turns,  # type: ignore[arg-type]
                    )
            first, second = await records.wait(2)
        nursery.cancel_scope.cancel()
    body = _bodies(sim, "/chat/completions")[0]
    flagged = [m for m in body["messages"] if "copilot_cache_control" in m]
    assert len(flagged) == 4
    assert all(m["copilot_cache_control"] == marked for m in flagged)
    assert [m["content"] for m in flagged] == [f"question {n}" for n in (1, 2, 3, 4)]
    assert "'cache_control'" not in str(body)  # only Copilot's own spelling goes out
    # The simulator's cache: the first call writes, the second reads.
    assert first.usage is not None and second.usage is not None
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens > 0


async def test_previous_response_id_is_relayed_with_store_false(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:

            def conversation() -> tuple[str, str, openai.BadRequestError, openai.BadRequestError]:
                with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as oai:
                    first = oai.responses.create(model="copilot/gpt-5-codex", input="hi")
                    second = oai.responses.create(
                        model="copilot/gpt-5-codex",
                        input="and then?",
                        previous_response_id=first.id,
                    )
                    sim.state.response_ids.clear()  # Copilot forgot the unstored responses
                    try:
                        oai.responses.create(
                            model="copilot/gpt-5-codex",
                            input="still there?",
                            previous_response_id=second.id,
                        )
                    except openai.BadRequestError as exc:
                        forgotten = exc
                    try:  # a model reached by translation: no history to send
                        oai.responses.create(
                            model="copilot/claude-sonnet-4.5",
                            input="hi",
                            previous_response_id=second.id,
                        )
                    except openai.BadRequestError as exc:
                        translated = exc
                    return first.id, second.id, forgotten, translated

            first_id, second_id, forgotten, translated = await trio.to_thread.run_sync(conversation)
        nursery.cancel_scope.cancel()
    bodies = _bodies(sim, "/responses")
    assert first_id != second_id
    assert bodies[1]["previous_response_id"] == first_id and bodies[1]["store"] is False
    assert bodies[2]["previous_response_id"] == second_id
    assert len(bodies) == 3  # the translated request never left
    assert forgotten.param == "previous_response_id"
    assert "no longer has the response" in forgotten.message
    assert "full conversation" in forgotten.message
    assert translated.param == "previous_response_id"
    assert "claude-sonnet-4.5" in translated.message
    assert not sim.state.recorded("copilot", "/chat/completions")
