from __future__ import annotations

import pytest
from copilot_helpers import load

from aiclient_trio.formats import anthropic, openai_chat, responses
from aiclient_trio.providers.copilot.initiator import has_image, initiator_for, initiator_for_ir

CASES = load("initiator_f15.json")
PARSERS = {"openai_chat": openai_chat, "anthropic": anthropic, "responses": responses}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_f15_initiator_on_the_inbound_shape(case: dict[str, object]) -> None:
    body = case["body"]
    assert isinstance(body, dict)
    assert initiator_for(case["format"], body) == case["expect"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["body"].get("messages") or c["body"].get("input")],
    ids=lambda c: c["name"],
)
def test_f15_initiator_on_the_ir_agrees(case: dict[str, object]) -> None:
    body = dict(case["body"])  # type: ignore[call-overload]
    body["model"] = "m"
    body.setdefault("max_tokens", 10)
    request = PARSERS[str(case["format"])].parse_request(body)
    assert initiator_for_ir(request) == case["expect"]


def test_has_image_in_every_shape_and_anywhere_in_history() -> None:
    chat = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "more"},
        ]
    }
    anth = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "iVBOR",
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    resp = {
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:x"}]}]
    }
    assert has_image(chat) and has_image(anth) and has_image(resp)
    assert not has_image({"messages": [{"role": "user", "content": "an image_url"}]})
    assert not has_image({"input": "describe type image"})
