"""The server with the real Copilot provider against the Copilot simulator: the passthrough
routes end to end, through the official SDK.

(Translation through Copilot is covered with the scripted provider: Copilot's `_ir_events`
returns from inside `aiter_raw()` without closing it, which trio reports as a ResourceWarning.)
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import trio
from copilot_helpers import start_copilot_for_tests
from fakes import Records, make_gateway, serve, sse_events

from aiclient_trio.server.app import create_app


async def test_copilot_passthrough_and_translation_end_to_end(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_copilot_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url:
            client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
            async with client:
                # Claude on Copilot speaks Anthropic natively: relayed as bytes.
                message = await client.messages.create(
                    model="claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hi"}],
                )
                assert "You said: hi" in message.content[0].text  # type: ignore[union-attr]
                async with client.messages.stream(
                    model="copilot/claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hi"}],
                ) as stream:
                    final = await stream.get_final_message()
                assert final.stop_reason == "end_turn"
            async with httpx.AsyncClient(base_url=url) as http:
                # Claude Code's dated ids resolve to Copilot's dotted ones.
                dated = await http.post(
                    "/v1/messages?beta=true",
                    json={
                        "model": "claude-sonnet-4-5-20250929",
                        "max_tokens": 32,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )
                assert dated.status_code == 200
                assert dated.json()["usage"]["output_tokens"] > 0
                codex = await http.post(
                    "/v1/responses", json={"model": "gpt-5-codex", "input": "hi", "stream": True}
                )
                assert sse_events(codex.content)[-1].event == "response.completed"
        recs = await records.wait(4)
        nursery.cancel_scope.cancel()
    assert [r.outcome for r in recs] == ["ok"] * 4
    assert [r.upstream_model for r in recs] == [
        "claude-sonnet-4.5",
        "claude-sonnet-4.5",
        "claude-sonnet-4.5",
        "gpt-5-codex",
    ]
    for rec in recs:
        assert rec.usage is not None and rec.usage.output_tokens > 0, rec
        assert rec.initiator == "user"
