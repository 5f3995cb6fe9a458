"""SDK conversations that the Copilot and Kiro gateway tests both hold.

Each helper drives an official SDK against a running gateway and returns what the client
saw; the tests assert on it, each for its own provider. The OpenAI ones take the sync
client (the async one leaves its SSE generators unclosed at [DONE], a ResourceWarning
under trio), the Anthropic ones the async client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
import openai
from anthropic.types import Message


def streamed_thinking(
    client: openai.OpenAI, model: str, prompt: str, *, fields: tuple[str, ...]
) -> tuple[str, str]:
    """Stream a chat completion with `reasoning_effort="high"`; return (reasoning, text).
    The reasoning of a delta is the first non-empty one of `fields` (extra delta fields)."""
    reasoning, text = "", ""
    stream = client.chat.completions.create(
        model=model,
        stream=True,
        reasoning_effort="high",
        messages=[{"role": "user", "content": prompt}],
    )
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                extra = choice.delta.model_extra or {}
                reasoning += next((extra[name] for name in fields if extra.get(name)), "")
                text += choice.delta.content or ""
    return reasoning, text


def responses_tool_round(
    client: openai.OpenAI, model: str, tool: dict[str, Any], ask: str, output: str
) -> tuple[tuple[str, str], str]:
    """A two-turn tool loop on /v1/responses: stream the first turn to its function call,
    send `output` as the call's result, return ((call name, call arguments), answer text)."""
    with client.responses.stream(model=model, tools=[tool], input=ask) as events:  # type: ignore[list-item]
        for _ in events:
            pass
        final = events.get_final_response()
    fcall = next(item for item in final.output if item.type == "function_call")
    answer = client.responses.create(
        model=model,
        tools=[tool],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": ask},
            {
                "type": "function_call",
                "call_id": fcall.call_id,  # type: ignore[union-attr]
                "name": tool["name"],
                "arguments": fcall.arguments,  # type: ignore[union-attr]
            },
            {"type": "function_call_output", "call_id": fcall.call_id, "output": output},  # type: ignore[union-attr]
        ],
    )
    return (fcall.name, fcall.arguments), answer.output_text  # type: ignore[union-attr]


async def anthropic_tool_round(
    client: anthropic.AsyncAnthropic,
    tool: dict[str, Any],
    ask: str,
    result: str,
    *,
    model: str,
    second_model: str | None = None,
    also_send: Sequence[dict[str, Any]] = (),
) -> tuple[Message, Any, Message]:
    """A two-turn tool loop on /v1/messages: stream the first turn (`ask`, one `tool`) to its
    final message, answer its tool_use with `result` (plus the blocks `also_send`) on
    `second_model` (default: `model`); return (first message, its tool_use, second message)."""
    question = {"role": "user", "content": ask}
    async with client.messages.stream(
        model=model,
        max_tokens=256,
        tools=[tool],  # type: ignore[list-item]
        messages=[question],  # type: ignore[list-item]
    ) as stream:
        first = await stream.get_final_message()
    call = next(b for b in first.content if b.type == "tool_use")
    answer = {"type": "tool_result", "tool_use_id": call.id, "content": result}
    second = await client.messages.create(
        model=second_model or model,
        max_tokens=256,
        tools=[tool],  # type: ignore[list-item]
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {"role": "user", "content": [answer, *also_send]},  # type: ignore[list-item]
        ],
    )
    return first, call, second


async def anthropic_thinking(client: anthropic.AsyncAnthropic, model: str, prompt: str) -> Message:
    """One answer with extended thinking enabled (a 2048-token budget)."""
    return await client.messages.create(
        model=model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": prompt}],
    )
