"""The Copilot simulator answers Codex's freeform (`custom`) tools on
`/responses` with `custom_tool_call` items, as the real API does, through the gateway."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import openai
import trio
from copilot_helpers import start_copilot_for_tests
from fakes import make_gateway, serve

from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot_replies import read_turn
from aiclient_trio.simulator.copilot_responses import (
    custom_tool_names,
    responses_body,
    responses_events,
)
from aiclient_trio.simulator.github import next_reset_date

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
TOOLS: list[Any] = [
    {"type": "custom", "name": "apply_patch", "description": "Edit files.", "format": {}},
    {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}},
]


def _body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5-codex", "input": text, "tools": TOOLS, **extra}


def test_custom_tool_gets_a_custom_tool_call_with_raw_input() -> None:
    body = _body('[[call apply_patch {"input": "*** Begin Patch\\n*** End Patch\\n"}]]')
    turn = read_turn("/responses", body)
    custom = custom_tool_names(body)
    assert custom == {"apply_patch"}
    (_, call) = responses_body(turn, "gpt-5-codex", custom=custom)["output"]
    assert call["type"] == "custom_tool_call"
    assert call["input"] == "*** Begin Patch\n*** End Patch\n"
    assert "arguments" not in call
    events = responses_events(turn, "gpt-5-codex", custom)
    names = [name for name, _ in events]
    assert "response.function_call_arguments.delta" not in names
    deltas = [d["delta"] for name, d in events if name == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == call["input"]
    done = [d for name, d in events if name == "response.custom_tool_call_input.done"]
    assert done[0]["input"] == call["input"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))


def test_function_tools_still_get_function_calls_and_custom_outputs_are_read() -> None:
    turn = read_turn("/responses", _body('[[call shell {"cmd": "ls"}]]'))
    (_, call) = responses_body(turn, "gpt-5-codex", custom=frozenset({"apply_patch"}))["output"]
    assert (call["type"], call["arguments"]) == ("function_call", '{"cmd": "ls"}')
    follow_up = _body(
        "",
        input=[
            {"role": "user", "content": "[[call apply_patch {}]]"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "x"},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done! a.txt"},
        ],
    )
    reply = read_turn("/responses", follow_up).reply
    assert reply.tool_call is None
    assert reply.text == "Copilot simulator got the tool result: Done! a.txt"


async def test_codex_apply_patch_through_the_gateway(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(make_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            async with client:
                prompt = "[[call apply_patch " + json.dumps({"input": PATCH}) + "]]"
                stream = await client.responses.create(
                    model="copilot/gpt-5-codex", input=prompt, tools=TOOLS, stream=True
                )
                done = [e.item async for e in stream if e.type == "response.output_item.done"]
                plain = await client.responses.create(
                    model="copilot/gpt-5-codex", input=prompt, tools=TOOLS
                )
        nursery.cancel_scope.cancel()
    for call in (done[-1], plain.output[-1]):
        assert call.type == "custom_tool_call"
        assert (call.name, call.input) == ("apply_patch", PATCH)


# The simulated Copilot quota resets on the first day of next month, so the
# demo never shows a reset date in the past.


def test_next_reset_date() -> None:
    assert next_reset_date(date(2026, 11, 27)) == "2026-12-01"
    assert next_reset_date(date(2026, 12, 31)) == "2027-01-01"
    assert next_reset_date(date(2026, 1, 1)) == "2026-02-01"
    assert next_reset_date() > date.today().isoformat()
