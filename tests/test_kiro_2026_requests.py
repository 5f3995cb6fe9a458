"""Requests and answers as the 2026 Kiro service has them, through the SDKs, the gateway and
the simulator: thinking effort per model schema, signed thinking replayed (and retried once
without it on THINKING_SIGNATURE_INVALID), stable conversation ids, a cut-off stream,
CONTENT_FILTERED, and the error table of kiro-2026.md section 7."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import trio
from fakes import serve
from kiro_helpers import chat_after_http_fault, kiro_gateway, start_kiro_for_tests
from openai.types.responses import Response

from aiclient_trio.providers.base import ProviderState
from aiclient_trio.server.app import create_app


def _client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)


async def test_effort_follows_each_model_s_schema_and_signed_thinking_is_replayed(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(kiro_gateway(provider))) as url, _client(url) as client:
            ask: Any = {"role": "user", "content": "[[think Add them.]] 2+2?"}
            first = await client.messages.create(
                model="kiro/claude-opus-5.5",
                max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 2048},
                messages=[ask],
            )
            thought = first.content[0]
            assert thought.type == "thinking" and thought.thinking == "Add them."
            assert thought.signature  # native reasoning, signed
            again: Any = [ask, {"role": "assistant", "content": first.content}]
            second = await client.messages.create(
                model="kiro/claude-opus-5.5",
                max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 2048},
                messages=[*again, {"role": "user", "content": "and 3+3?"}],
            )
            assert second.stop_reason == "end_turn"
            # A signature the service no longer accepts: stripped, retried once, answered.
            tampered = first.content[0].model_copy(update={"signature": "sig-stale"})
            bad: Any = [ask, {"role": "assistant", "content": [tampered, *first.content[1:]]}]
            third = await client.messages.create(
                model="kiro/claude-opus-5.5",
                max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 2048},
                messages=[*bad, {"role": "user", "content": "and 4+4?"}],
            )
            assert third.stop_reason == "end_turn"
            # No thinking: opus-5 takes "disabled", the 5.5 models refuse it (left out).
            for model in ("kiro/claude-opus-5", "kiro/claude-sonnet-5.5"):
                plain = await client.messages.create(
                    model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
                )
                assert plain.stop_reason == "end_turn"
        async with serve(create_app(kiro_gateway(provider))) as url:
            oai = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            async with oai:
                gpt = await oai.chat.completions.create(
                    model="kiro/gpt-5-6-sol",  # dashes for dots
                    reasoning_effort="high",
                    messages=[{"role": "user", "content": "hi"}],
                )
            assert gpt.choices[0].finish_reason == "stop"
        nursery.cancel_scope.cancel()
    bodies = [r.json() for r in sim.generate_requests()]
    fields = [b.get("additionalModelRequestFields") for b in bodies]
    assert fields[0] == {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}
    for body in bodies[:5]:
        assert "<thinking_mode>" not in str(body)  # no tag emulation for schema models
    replayed = bodies[1]["conversationState"]["history"][1]["assistantResponseMessage"]
    assert replayed["reasoningContent"]["reasoningText"]["text"] == "Add them."
    # The tampered signature: refused once, then sent again without reasoningContent.
    assert "reasoningContent" in str(bodies[2]) and "reasoningContent" not in str(bodies[3])
    assert sim.violations == ["a replayed thinking signature does not match its text"]
    assert fields[4] == {"thinking": {"type": "disabled"}}  # opus-5
    assert fields[5] is None  # sonnet-5.5: "disabled" is not in its schema
    assert bodies[6]["conversationState"]["currentMessage"]["userInputMessage"]["modelId"] == (
        "gpt-5.6-sol"
    )
    assert fields[6] == {"reasoning": {"effort": "high"}}


async def test_unknown_models_404_with_close_matches(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, _sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(kiro_gateway(provider))) as url, _client(url) as client:
            with pytest.raises(anthropic.NotFoundError) as caught:
                await client.messages.create(
                    model="kiro/claude-opus-5.6",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "x"}],
                )
        nursery.cancel_scope.cancel()
    assert "Did you mean: kiro/claude-opus-5.5" in str(caught.value)


async def test_conversation_id_is_stable_per_conversation(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(kiro_gateway(provider))) as url, _client(url) as client:
            turn1: Any = [{"role": "user", "content": "Plan a trip"}]
            first = await client.messages.create(
                model="kiro/claude-sonnet-4.5", max_tokens=64, system="Be terse.", messages=turn1
            )
            turn2: Any = [
                *turn1,
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": "Shorter"},
            ]
            await client.messages.create(
                model="kiro/claude-sonnet-4.5", max_tokens=64, system="Be terse.", messages=turn2
            )
            other: Any = [{"role": "user", "content": "Something else"}]
            await client.messages.create(
                model="kiro/claude-sonnet-4.5", max_tokens=64, messages=other
            )
            session = {"x-claude-code-session-id": "0f6e7a9c-session"}
            for text in ("one", "two"):
                await client.messages.create(
                    model="kiro/claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": text}],
                    extra_headers=session,
                )
        nursery.cancel_scope.cancel()
    ids = [r.json()["conversationState"]["conversationId"] for r in sim.generate_requests()]
    assert ids[0] == ids[1]  # the same conversation, turn after turn (Kiro caches by it)
    assert ids[2] != ids[0]
    assert ids[3] == ids[4] != ids[2]  # the client's session header wins


async def _openai_endings(url: str) -> tuple[str, Response]:
    """Ask "hello" of `kiro/claude-sonnet-4.5` on /v1/chat/completions and /v1/responses;
    return the chat finish reason and the whole response."""
    oai = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    async with oai:
        chat = await oai.chat.completions.create(
            model="kiro/claude-sonnet-4.5", messages=[{"role": "user", "content": "hello"}]
        )
        response = await oai.responses.create(model="kiro/claude-sonnet-4.5", input="hello")
    return chat.choices[0].finish_reason, response


async def test_a_cut_off_stream_never_ends_cleanly(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.usage_events = False  # the body ends without the tail
        async with serve(create_app(kiro_gateway(provider))) as url:
            async with _client(url) as client:
                async with client.messages.stream(
                    model="kiro/claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hello"}],
                ) as stream:
                    message = await stream.get_final_message()
                assert message.stop_reason == "max_tokens"
            finish_reason, response = await _openai_endings(url)
            assert finish_reason == "length"
            assert response.status == "incomplete"
            assert response.incomplete_details is not None
            assert response.incomplete_details.reason == "max_output_tokens"
        nursery.cancel_scope.cancel()


async def test_content_filtered_is_each_format_s_refusal(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.stop_reason = "CONTENT_FILTERED"
        async with serve(create_app(kiro_gateway(provider))) as url:
            async with _client(url) as client:
                message = await client.messages.create(
                    model="kiro/claude-sonnet-4.5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hello"}],
                )
                assert message.stop_reason == "refusal"
            finish_reason, response = await _openai_endings(url)
            assert finish_reason == "content_filter"
            assert response.status == "incomplete"
            assert response.incomplete_details is not None
            assert response.incomplete_details.reason == "content_filter"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("fault", "status", "kind", "words"),
    [
        ("quota_429", 429, "insufficient_quota", "quota exhausted"),
        ("usage_limit", 429, "insufficient_quota", "quota exhausted"),
        ("overage", 429, "insufficient_quota", "quota exhausted"),
        ("credit_rate", 429, "rate_limit_error", "Credit consumption rate"),
        ("user_rate", 429, "rate_limit_error", "Too many requests"),
        ("tool_mismatch", 400, "invalid_request_error", "tool results do not match"),
        ("tool_schema", 400, "invalid_request_error", "input schema was refused"),
        ("tool_format", 400, "invalid_request_error", "invalid format"),
        ("context_full", 400, "invalid_request_error", "no longer fits"),
    ],
)
async def test_the_error_table(
    tmp_path: Path, fault: str, status: int, kind: str, words: str
) -> None:
    answer, provider, sim = await chat_after_http_fault(tmp_path, fault)
    error = answer.json()["error"]
    assert answer.status_code == status and error["type"] == kind, answer.text
    assert words in error["message"]
    if kind == "insufficient_quota":
        assert answer.headers["x-should-retry"] == "false"  # spent: do not retry
    if fault == "credit_rate":
        assert answer.headers["retry-after"] == "7"  # the service's own wait
    assert len(sim.generate_requests()) == 1  # nothing retried or moved to another host
    assert provider.status.value.state == ProviderState.READY


@pytest.mark.parametrize("fault", ["suspicious", "suspended"])
async def test_a_restricted_account_shows_in_the_provider_state(tmp_path: Path, fault: str) -> None:
    answer, provider, _sim = await chat_after_http_fault(
        tmp_path, fault, "/v1/messages", max_tokens=8
    )
    assert answer.status_code == 403, answer.text
    assert "another account" in answer.json()["error"]["message"]
    status = provider.status.value
    assert status.state == ProviderState.ERROR
    assert status.reason is not None and "Kiro" in status.reason
    assert status.fix is not None and "aiclient auth kiro" in status.fix


async def test_pdfs_go_as_documents_on_the_current_message(tmp_path: Path) -> None:
    pdf = "JVBERi0xLjQKJcOkw7zDtsOfCg=="

    def document(title: str) -> dict[str, Any]:
        source = {"type": "base64", "media_type": "application/pdf", "data": pdf}
        return {"type": "document", "source": source, "title": title}

    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        async with serve(create_app(kiro_gateway(provider))) as url, _client(url) as client:
            messages: Any = [
                {
                    "role": "user",
                    "content": [document("old.pdf"), {"type": "text", "text": "Read"}],
                },
                {"role": "assistant", "content": "Done."},
                {
                    "role": "user",
                    "content": [
                        *(document(f"report {i}.pdf") for i in range(6)),
                        {"type": "text", "text": "Summarise these"},
                    ],
                },
            ]
            answer = await client.messages.create(
                model="kiro/claude-sonnet-4.5", max_tokens=64, messages=messages
            )
        nursery.cancel_scope.cancel()
    assert answer.stop_reason == "end_turn"
    assert sim.violations == []
    [call] = sim.generate_requests()
    state = call.json()["conversationState"]
    current = state["currentMessage"]["userInputMessage"]
    assert [d["name"] for d in current["documents"]] == [f"report {i}" for i in range(5)]
    assert current["documents"][0] == {
        "format": "pdf",
        "name": "report 0",
        "source": {"bytes": pdf},
    }
    assert "[document report 5 omitted: Kiro takes at most 5 documents]" in current["content"]
    earlier = state["history"][0]["userInputMessage"]
    assert "documents" not in earlier
    assert (
        "[document old omitted: Kiro takes documents only in the latest message]"
        in earlier["content"]
    )
