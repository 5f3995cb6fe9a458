"""Codex's freeform (custom) and namespaced tools come back in Responses' own shapes."""

from __future__ import annotations

import json

import httpx
from fakes import FakeProvider, Script, make_gateway, serve, sse_events

from aiclient_trio import ir
from aiclient_trio.server.app import create_app


def _tool_call_events(name: str, arguments: dict[str, str]) -> list[ir.StreamEvent]:
    return [
        ir.MessageStart(id="msg_1", model="fake-model"),
        ir.BlockStart(0, ir.ToolUseBlock("call_1", name)),
        ir.ToolInputDelta(0, json.dumps(arguments)),
        ir.BlockStop(0),
        ir.MessageDelta("tool_use", ir.Usage(input_tokens=5, output_tokens=3)),
        ir.MessageStop(),
    ]


REQUEST = {
    "model": "copilot/fake-model",
    "input": [{"type": "message", "role": "user", "content": "patch it"}],
    "tools": [
        {"type": "custom", "name": "apply_patch", "description": "patch", "format": {}},
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "tools": [{"type": "function", "name": "list_agents", "parameters": {}}],
        },
    ],
}


async def test_custom_tool_call_is_rendered_as_custom_tool_call() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(
        events=_tool_call_events("apply_patch", {"input": "*** Begin Patch"})
    )
    gateway = make_gateway(provider)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/v1/responses", json=REQUEST)
        assert answer.status_code == 200, answer.text
        (item,) = answer.json()["output"]
        assert item["type"] == "custom_tool_call"
        assert item["input"] == "*** Begin Patch"

        streamed = await client.post("/v1/responses", json={**REQUEST, "stream": True})
        done = [
            json.loads(e.data)["item"]
            for e in sse_events(streamed.content)
            if e.event == "response.output_item.done"
        ]
        assert [d["type"] for d in done] == ["custom_tool_call"]


async def test_namespaced_tool_call_keeps_its_namespace() -> None:
    provider = FakeProvider("copilot")
    provider.scripts["fake-model"] = Script(events=_tool_call_events("list_agents", {}))
    gateway = make_gateway(provider)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/v1/responses", json=REQUEST)
        (item,) = answer.json()["output"]
        assert item["type"] == "function_call"
        assert item["name"] == "list_agents"
        assert item.get("namespace") == "multi_agent_v1"
