"""The official openai and anthropic SDKs against a real `aiclient demo` subprocess.

Every endpoint, stream and non-stream, both providers, the scripted tool loop, thinking,
images, embeddings, and the request shapes Claude Code and Codex send. Runs in the default
test session (one demo process for the whole session).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from e2e.demo_process import DemoProcess

DATA = Path(__file__).parent.parent / "data" / "e2e"
# A 1x1 red PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
).decode()

CHAT_MODELS = ["copilot/gpt-4.1", "kiro/claude-sonnet-4.5"]
CLAUDE_MODELS = ["copilot/claude-sonnet-4.5", "kiro/claude-sonnet-4.5"]
MESSAGES_MODELS = [*CLAUDE_MODELS, "copilot/gpt-4.1"]
RESPONSES_MODELS = ["copilot/gpt-5-codex", "copilot/gpt-4.1", "kiro/claude-sonnet-4.5"]
WEATHER_TOOL_CHAT: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = '[[call get_weather {"city": "Paris"}]]'


def simulator(model: str) -> str:
    return "Kiro simulator" if model.startswith("kiro/") else "Copilot simulator"


def load(name: str, model: str, prompt: str) -> Any:
    escaped = json.dumps(prompt)[1:-1]
    text = (DATA / name).read_text().replace("MODEL", model).replace("PROMPT", escaped)
    return json.loads(text)


@pytest.fixture
def oai(demo: DemoProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=demo.url + "/v1", api_key="any", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(demo: DemoProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=demo.url, api_key="any", max_retries=0) as client:
        yield client


@pytest.fixture
def http(demo: DemoProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=30.0) as client:
        yield client


def sse_events(body: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) for every SSE event of a complete body."""
    events: list[tuple[str | None, Any]] = []
    for chunk in body.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in chunk.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data and data != ["[DONE]"]:
            events.append((name, json.loads("\n".join(data))))
    return events


# -- the demo itself --------------------------------------------------------------------------


def test_banner_names_url_models_and_setups(demo: DemoProcess) -> None:
    banner = demo.banner
    assert f"Gateway: {demo.url}" in banner
    assert "  copilot/gpt-5-codex" in banner and "  kiro/claude-sonnet-4.5" in banner
    assert f"export ANTHROPIC_BASE_URL={demo.url}" in banner
    assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" in banner
    assert 'wire_api = "responses"' in banner and f'base_url = "{demo.url}/v1"' in banner
    assert "from openai import OpenAI" in banner and "import anthropic" in banner


def test_models_list_both_providers(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"copilot/gpt-4.1", "copilot/gpt-5-codex", "kiro/claude-sonnet-4.5"} <= ids
    anthropic_ids = {m.id for m in claude.models.list()}
    assert "kiro/claude-haiku-4.5" in anthropic_ids


def test_head_root_is_not_an_error(http: httpx.Client) -> None:
    assert http.head("/").status_code < 500


# -- chat completions -------------------------------------------------------------------------


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_non_stream(oai: openai.OpenAI, model: str) -> None:
    reply = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "say hi"}]
    )
    assert (
        reply.choices[0].message.content == f"Hello from the {simulator(model)}! You said: say hi"
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_stream_with_usage(oai: openai.OpenAI, model: str) -> None:
    stream = oai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello from the {simulator(model)}! You said: stream please"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_tool_loop(oai: openai.OpenAI, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": f"weather? {CALL}"}]
    first = oai.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL_CHAT])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 degrees"},
    ]
    second = oai.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL_CHAT], stream=True
    )
    with second:
        text = "".join(c.choices[0].delta.content or "" for c in second if c.choices)
    assert text == f"{simulator(model)} got the tool result: sunny, 21 degrees"


def test_chat_image(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model="copilot/gpt-4.1",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert (
        reply.choices[0].message.content
        == "Hello from the Copilot simulator! You said: what is this"
    )


# -- anthropic messages -----------------------------------------------------------------------


@pytest.mark.parametrize("model", MESSAGES_MODELS)
def test_messages_non_stream(claude: anthropic.Anthropic, model: str) -> None:
    message = claude.messages.create(
        model=model, max_tokens=1024, messages=[{"role": "user", "content": "say hi"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Hello from the {simulator(model)}! You said: say hi"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", MESSAGES_MODELS)
def test_reply_usage_grows_with_the_request(claude: anthropic.Anthropic, model: str) -> None:
    """Clients' context meters move: a bigger request reports more input tokens."""

    def used(text: str) -> tuple[int, int]:
        message = claude.messages.create(
            model=model, max_tokens=1024, messages=[{"role": "user", "content": text}]
        )
        return message.usage.input_tokens, message.usage.output_tokens

    small_in, small_out = used("hi")
    big_in, big_out = used("hi " + "lorem ipsum dolor sit amet " * 400)
    assert small_in > 0 and big_in > small_in + 1000, (small_in, big_in)
    assert small_out > 0 and big_out > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_usage_grows_with_the_request(oai: openai.OpenAI, model: str) -> None:
    def prompt_tokens(text: str) -> int:
        reply = oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
        assert reply.usage is not None
        return reply.usage.prompt_tokens

    assert 0 < prompt_tokens("hi") < prompt_tokens("hi " + "lorem ipsum dolor " * 400) - 1000


@pytest.mark.parametrize("model", MESSAGES_MODELS)
def test_messages_stream(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=1024, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == f"Hello from the {simulator(model)}! You said: stream it"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_messages_tool_loop_streamed(claude: anthropic.Anthropic, model: str) -> None:
    tools: Any = [
        {
            "name": "get_weather",
            "description": "Weather for a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": f"weather? {CALL}"}]
    with claude.messages.stream(
        model=model, max_tokens=1024, messages=messages, tools=tools
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rainy"}],
        },
    ]
    second = claude.messages.create(model=model, max_tokens=1024, messages=messages, tools=tools)
    assert second.content[0].type == "text"
    assert second.content[0].text == f"{simulator(model)} got the tool result: rainy"


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_messages_thinking(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "[[think weighing the options]] decide"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "text"], kinds
    thinking = final.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "weighing the options"
    assert final.content[1].type == "text"
    assert final.content[1].text == f"Hello from the {simulator(model)}! You said: decide"


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_messages_image(claude: anthropic.Anthropic, model: str) -> None:
    message = claude.messages.create(
        model=model,
        max_tokens=1024,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "text", "text": "describe"},
                ],
            }
        ],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Hello from the {simulator(model)}! You said: describe"


def test_count_tokens_grows_with_the_request(claude: anthropic.Anthropic) -> None:
    def count(text: str) -> int:
        result = claude.messages.count_tokens(
            model="kiro/claude-sonnet-4.5", messages=[{"role": "user", "content": text}]
        )
        return result.input_tokens

    assert 0 < count("hi") < count("hi " * 500)


def test_scripted_error_reaches_the_client(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model="kiro/claude-sonnet-4.5",
            max_tokens=100,
            messages=[{"role": "user", "content": "[[error 400]]"}],
        )


# -- responses --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_responses_non_stream(oai: openai.OpenAI, model: str) -> None:
    response = oai.responses.create(model=model, input="say hi", instructions="Be brief.")
    assert response.output_text == f"Hello from the {simulator(model)}! You said: say hi"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.total_tokens > 0


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_responses_stream(oai: openai.OpenAI, model: str) -> None:
    stream = oai.responses.create(model=model, input="stream it", stream=True)
    with stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == f"Hello from the {simulator(model)}! You said: stream it"
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers)


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_responses_tool_loop(oai: openai.OpenAI, model: str) -> None:
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    history: list[Any] = [{"role": "user", "content": f"weather? {CALL}"}]
    first = oai.responses.create(model=model, input=history, tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "foggy"})
    second = oai.responses.create(model=model, input=history, tools=tools)
    assert second.output_text == f"{simulator(model)} got the tool result: foggy"


def test_responses_reasoning_summary(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model="copilot/gpt-5-codex",
        input="[[think step by step]] go",
        reasoning={"effort": "medium", "summary": "auto"},
    )
    kinds = [item.type for item in response.output]
    assert kinds[0] == "reasoning" and "message" in kinds
    assert response.output_text == "Hello from the Copilot simulator! You said: go"


# -- embeddings -------------------------------------------------------------------------------


def test_embeddings_float_and_base64(oai: openai.OpenAI, http: httpx.Client) -> None:
    result = oai.embeddings.create(model="copilot/text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    raw = http.post(
        "/v1/embeddings",
        json={"model": "copilot/text-embedding-3-small", "input": "a", "encoding_format": "base64"},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert floats == pytest.approx(result.data[0].embedding, rel=1e-6)


# -- what the real coding agents send -----------------------------------------------------------


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_claude_code_request_shape(http: httpx.Client, model: str, tmp_path: Path) -> None:
    """Beta query, x-api-key, role system in messages, $schema tools, adaptive thinking."""
    headers = json.loads((DATA / "claude_code_headers.json").read_text())
    target = tmp_path / "a.txt"
    prompt = f"read it [[call Read {json.dumps({'file_path': str(target)})}]]"
    body = load("claude_code_request.json", model, prompt)
    response = http.post("/v1/messages?beta=true", json=body, headers=headers)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    pieces = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    ]
    assert len([p for p in pieces if p]) > 1, "the arguments are streamed in fragments"
    assert json.loads("".join(pieces)) == {"file_path": str(target)}
    stop = [data for name, data in events if name == "message_delta"][-1]
    assert stop["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("model", ["copilot/gpt-5-codex", "kiro/claude-sonnet-4.5"])
def test_codex_request_shape(http: httpx.Client, model: str) -> None:
    """Developer items, custom/namespace/tool_search/web_search tools, additional_tools."""
    headers = json.loads((DATA / "codex_headers.json").read_text())
    body = load("codex_request.json", model, '[[call exec_command {"cmd": "cat a.txt"}]]')
    response = http.post("/v1/responses", json=body, headers=headers)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed", names
    done = [
        data["item"]
        for name, data in events
        if name == "response.output_item.done" and data["item"]["type"] == "function_call"
    ]
    assert [item["name"] for item in done] == ["exec_command"]
    assert json.loads(done[0]["arguments"]) == {"cmd": "cat a.txt"}
    pieces = [d["delta"] for n, d in events if n == "response.function_call_arguments.delta"]
    assert len(pieces) > 1 and "".join(pieces) == done[0]["arguments"], pieces


def test_translation_drops_are_logged_once(http: httpx.Client, demo: DemoProcess) -> None:
    body = load("codex_request.json", "kiro/claude-haiku-4.5", "hi")
    for _ in range(2):
        assert http.post("/v1/responses", json=body).status_code == 200
    warnings = [
        line
        for line in demo.logs().splitlines()
        if "WARNING" in line and "kiro/claude-haiku-4.5 cannot express these" in line
    ]
    assert len(warnings) == 1, warnings
    assert "web_search" in warnings[0] and "tool_search" in warnings[0]
