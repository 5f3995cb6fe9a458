"""The Kiro simulator itself: request rules (kiro.md 10.1), bearer check, frames, endpoints."""

from __future__ import annotations

import copy
import json
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from aiclient_trio.simulator.kiro import KiroSimulator, encode_frames, serve_kiro_simulator
from aiclient_trio.simulator.kiro_rules import check_request

CONVERT = Path(__file__).parent / "data" / "kiro" / "convert"
REFERENCE_FRAME = (
    "0000007c0000005c3bddcf780b3a6576656e742d74797065070016617373697374616e74"
    "526573706f6e73654576656e740d3a636f6e74656e742d747970650700106170706c6963"
    "6174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f"
    "6e74656e74223a224869227db02babdc"
)


def _r2() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((CONVERT / "r2_tool_roundtrip.json").read_text())["expected"]
    return body


def test_reference_frames() -> None:
    frame = encode_frames([{"event": "assistantResponseEvent", "payload": {"content": "Hi"}}])
    assert frame.hex() == REFERENCE_FRAME
    exception = encode_frames(
        [
            {
                "exception": "ThrottlingException",
                "message": "Too many requests, please wait before trying again.",
            }
        ]
    )
    assert len(exception) == 178 and exception[:12].hex() == "000000b2000000613590d5d3"
    assert int.from_bytes(exception[-4:], "big") == zlib.crc32(exception[:-4])


def _break(mutate: str) -> dict[str, Any]:
    body = _r2()
    state = body["conversationState"]
    current = state["currentMessage"]["userInputMessage"]
    history = state["history"]
    if mutate == "two_keys_in_history_item":
        history[0]["assistantResponseMessage"] = {"content": "x"}
    elif mutate == "history_starts_with_assistant":
        state["history"] = history[::-1]
    elif mutate == "history_ends_with_user":
        state["history"] = history[:1]
    elif mutate == "empty_content":
        history[1]["assistantResponseMessage"]["content"] = ""
    elif mutate == "result_without_use":
        current["userInputMessageContext"]["toolResults"][0]["toolUseId"] = "tooluse_other"
    elif mutate == "use_without_result":
        del current["userInputMessageContext"]["toolResults"]
        current["content"] = "hi"
    elif mutate == "duplicate_results":
        results = current["userInputMessageContext"]["toolResults"]
        results.append(copy.deepcopy(results[0]))
    elif mutate == "tools_in_history":
        tools = current["userInputMessageContext"]["tools"]
        history[0]["userInputMessage"]["userInputMessageContext"] = {"tools": tools}
    elif mutate == "long_tool_name":
        spec = current["userInputMessageContext"]["tools"][0]["toolSpecification"]
        spec["name"] = "x" * 65
    elif mutate == "empty_description":
        spec = current["userInputMessageContext"]["tools"][0]["toolSpecification"]
        spec["description"] = ""
    elif mutate == "unsafe_tool_name":
        spec = current["userInputMessageContext"]["tools"][0]["toolSpecification"]
        spec["name"] = "get.weather"
    elif mutate == "documents_in_history":
        history[0]["userInputMessage"]["documents"] = [_pdf("notes")]
    elif mutate == "six_documents":
        current["documents"] = [_pdf(f"doc{i}") for i in range(6)]
    elif mutate == "document_name_with_extension":
        current["documents"] = [_pdf("notes.pdf")]
    elif mutate == "string_tool_input":
        history[1]["assistantResponseMessage"]["toolUses"][0]["input"] = '{"city": "Paris"}'
    elif mutate == "empty_key_in_input":
        history[1]["assistantResponseMessage"]["toolUses"][0]["input"] = {"": 1}
    elif mutate == "no_tools_with_tool_content":
        del current["userInputMessageContext"]["tools"]
    elif mutate == "bad_trigger":
        state["chatTriggerType"] = "AUTO"
    elif mutate == "bad_conversation_id":
        state["conversationId"] = "nope"
    elif mutate == "image_format":
        current["images"] = [{"format": "bmp", "source": {"bytes": "AAAA"}}]
    return body


MUTATIONS = [
    "two_keys_in_history_item",
    "history_starts_with_assistant",
    "history_ends_with_user",
    "empty_content",
    "result_without_use",
    "use_without_result",
    "duplicate_results",
    "tools_in_history",
    "long_tool_name",
    "empty_description",
    "unsafe_tool_name",
    "documents_in_history",
    "six_documents",
    "document_name_with_extension",
    "string_tool_input",
    "empty_key_in_input",
    "no_tools_with_tool_content",
    "bad_trigger",
    "bad_conversation_id",
    "image_format",
]


def _pdf(name: str) -> dict[str, Any]:
    return {"format": "pdf", "name": name, "source": {"bytes": "JVBERi0xLjQK"}}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_rules_refuse_malformed_requests(mutation: str) -> None:
    assert check_request(_r2()) is None
    assert check_request(_break(mutation)) is not None


def test_rules_accept_what_the_2026_service_accepts() -> None:
    """`$schema` in tool schemas (peers send it) and up to five PDFs on the current message."""
    body = _r2()
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    spec = current["userInputMessageContext"]["tools"][0]["toolSpecification"]
    spec["inputSchema"]["json"]["$schema"] = "http://json-schema.org/draft-07/schema#"
    current["documents"] = [_pdf(f"doc{i}") for i in range(5)]
    assert check_request(body) is None


async def _post(sim: KiroSimulator, body: Any, token: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            sim.url("q") + headers.pop("path", "/generateAssistantResponse"),
            json=body,
            headers={"authorization": f"Bearer {token}", **headers},
        )


async def test_service_answers_like_the_real_one(nursery: trio.Nursery) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    issued = sim.accounts.issue()
    good = _r2()
    good["profileArn"] = issued["profileArn"]
    ok = await _post(sim, good, issued["accessToken"])
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/vnd.amazon.eventstream"
    # The AWS-SDK style route answers the same.
    target = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
    aws_json = {"x-amz-target": target, "content-type": "application/x-amz-json-1.0"}
    sdk = await _post(sim, good, issued["accessToken"], path="/", **aws_json)
    assert sdk.status_code == 200 and sdk.content.startswith(b"\x00\x00")
    bad = await _post(sim, _break("empty_content"), issued["accessToken"])
    assert bad.status_code == 400
    assert bad.json() == {"message": "Improperly formed request.", "reason": None}
    assert sim.violations and "content" in sim.violations[-1]
    denied = await _post(sim, good, "at-unknown")
    assert denied.status_code == 403
    assert denied.json()["message"] == "The bearer token included in the request is invalid."
    no_arn = await _post(sim, _r2(), issued["accessToken"])
    assert no_arn.status_code == 403  # social accounts must send their profileArn


async def test_refresh_endpoints(nursery: trio.Nursery) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    issued = sim.accounts.issue()
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        fresh = await client.post("/refreshToken", json={"refreshToken": issued["refreshToken"]})
        assert fresh.status_code == 200 and set(fresh.json()) == {
            "accessToken",
            "refreshToken",
            "profileArn",
            "expiresIn",
        }
        again = await client.post("/refreshToken", json={"refreshToken": issued["refreshToken"]})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
